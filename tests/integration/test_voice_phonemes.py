"""The reading is checked, not assumed: espeak-ng's phonemes (``-x``) of the phrases each
bundled hall says, for every queue letter, against the phonemes expected for the letter,
the digits and the window, in Mandarin and English. Tones and stress marks are compared
apart (tone sandhi changes the first, context the second)."""

from __future__ import annotations

import re

import pytest

from hall.config import HallConfig, bundled_hall_files, load_halls
from voice.phrases import segments_for, split_ticket
from voice.readings import clauses, close_digit_zh, mandarin_syllables
from voice.settings import NumberStyle, VoiceSettings, parse_voice

# Mandarin syllables (espeak-ng's phoneme names, tones removed).
ZH_SYLLABLES = {"零": "liN", "一": "ji", "二": "@r", "三": "san", "四": "si[", "五": "wu",
                "六": "liou", "七": "tS;hi", "八": "pA", "九": "tS;iou", "十": "s.i.",
                "百": "pai"}
# How each queue letter of the bundled halls must sound in the Mandarin sentence: its
# Mandarin syllables, or "en:" and the English word espeak-ng says instead.
ZH_LETTERS = {"A": ["ei"], "B": ["pi"], "C": ["sei"], "D": ["ti"], "E": "en:Edw3d",
              "F": ["aif"], "G": "en:g0lf", "H": ["eits.h"], "J": "en:dZak", "K": ["khei"],
              "L": ["ail"], "M": ["aim"]}
EN_LETTERS = {"A": "eI", "B": "bi:", "C": "si:", "D": "di:", "E": "i:", "F": "Ef",
              "G": "dZi:", "H": "eItS", "J": "dZeI", "K": "keI", "L": "El", "M": "Em"}
EN_WORDS = {"0": "zi@roU", "1": "w0n", "2": "tu:", "3": "Tri:", "4": "fo@", "5": "faIv",
            "6": "sIks", "7": "sEv@n", "8": "eIt", "9": "naIn", "12": "twElv"}
NUMBERS = ("001", "045", "120", "007")
WINDOWS = {5: ["wu"], 12: ["s.i.", "@r"]}
ZH_DIGIT_TABLE = {ZH_SYLLABLES[d]: d for d in "零一二三四五六七八九"}


def bundled() -> list[tuple[HallConfig, VoiceSettings, str]]:
    halls = load_halls(bundled_hall_files())
    return [(cfg, parse_voice(cfg.voice), q.letter) for cfg in halls.values()
            for q in cfg.queues]


CASES = bundled()


def english_chunks(x: str) -> list[str]:
    """English words in a Mandarin clause, without the tone numbers espeak-ng gives them
    there ("(en)E44dw311d(cmn)" -> "Edw3d": 3 is a vowel, 44 and 11 are tones)."""
    return [re.sub(r"\d\d(?=\D|$)|[',]", "", m) for m in re.findall(r"\(en\)(.*?)\(cmn\)", x)]


def plain(word: str) -> str:
    return re.sub(r"[',%=]", "", word)


def zh_number(digits: str, style: NumberStyle, said: str) -> list[str]:
    chars = said if style is NumberStyle.NUMBER else digits
    return [ZH_SYLLABLES[c] if c in ZH_SYLLABLES else ZH_SYLLABLES["零一二三四五六七八九"[int(c)]]
            for c in chars]


def test_every_queue_letter_of_every_bundled_hall_is_covered() -> None:
    assert {letter for _, _, letter in CASES} == set(ZH_LETTERS)
    assert {cfg.id for cfg, _, _ in CASES} == {"district", "town", "village"}


@pytest.mark.parametrize(("cfg", "settings", "letter"), CASES,
                         ids=[f"{c.id}-{q}" for c, _, q in CASES])
def test_mandarin_phrase_sounds_as_expected(cfg: HallConfig, settings: VoiceSettings,
                                            letter: str) -> None:
    from voice.phrases import chinese_number

    assert "zh" in settings.languages
    for digits in NUMBERS:
        for window, window_syllables in WINDOWS.items():
            (seg,) = [s for s in segments_for("call", letter + digits, window, settings)
                      if s.language == "zh"]
            said = clauses(seg.speech, seg.voice)
            assert len(said) >= 2, said  # a pause (a clause break) before the window
            number_clause, window_part = said[0], " ".join(said[1:])
            syllables = mandarin_syllables(number_clause)
            expected_letter = ZH_LETTERS[letter]
            if isinstance(expected_letter, str):  # an English word inside the sentence
                assert english_chunks(number_clause) == [expected_letter[3:]], number_clause
                letter_syllables: list[str] = []
            else:
                letter_syllables = expected_letter
                assert close_digit_zh(" ".join(letter_syllables), ZH_DIGIT_TABLE) is None
            number = zh_number(digits, settings.number_style,
                               chinese_number(int(split_ticket(letter + digits)[1])))
            # 请 + letter + number + 号, in that order and nothing else
            assert syllables == ["tS;hiN", *letter_syllables, *number, "XAu"], \
                (seg.speech, number_clause)
            window_syllables_said = mandarin_syllables(window_part)
            assert window_syllables_said[1:1 + len(window_syllables)] == window_syllables, \
                (seg.speech, window_part)  # 到 + window


def test_no_mandarin_letter_reading_of_a_bundled_hall_is_close_to_a_digit() -> None:
    for cfg, settings, letter in CASES:
        reading = settings.letter("zh", letter)
        x = " ".join(clauses(reading, settings.voice("zh")))
        assert close_digit_zh(x, ZH_DIGIT_TABLE) is None, (cfg.id, letter, reading, x)
    # and the check itself finds the letters that are: espeak-ng's own E, G, R, Z, W
    for letter, digit in (("E", "一"), ("G", "七"), ("R", "二"), ("Z", "七"), ("W", "六")):
        x = " ".join(clauses(letter, "sit/cmn-latn-pinyin"))
        assert close_digit_zh(x, ZH_DIGIT_TABLE) == digit, (letter, x)


@pytest.mark.parametrize("letter", sorted(EN_LETTERS))
def test_english_phrase_sounds_as_expected(letter: str) -> None:
    settings = parse_voice({"languages": ["zh", "en"]})  # the district's
    for digits in NUMBERS:
        for window in (5, 12):
            (seg,) = [s for s in segments_for("call", letter + digits, window, settings)
                      if s.language == "en"]
            said = clauses(seg.speech, seg.voice)
            # "Number E," | "zero zero one," | "please go to window five": pauses between
            assert len(said) == 3, (seg.speech, said)
            number, letter_said = said[0].split()
            assert plain(number).startswith("nVmb3"), said
            assert "'" in letter_said and plain(letter_said) == EN_LETTERS[letter], \
                (seg.speech, said)  # the letter stressed, on its own
            assert [plain(w) for w in said[1].split()] == [EN_WORDS[d] for d in digits], \
                (seg.speech, said)  # digit by digit, always: never "forty-five"
            assert plain(said[2].split()[-1]) == EN_WORDS[str(window)], said
