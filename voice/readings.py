"""Are a hall's queue letters read so that nobody hears a digit? Checked with espeak-ng's phonemes.

``espeak-ng -x`` prints the phonemes it would speak (deterministic, the same voice data
the worker uses). A Mandarin reading is *close to a digit* when one of its syllables,
tones ignored, is a digit's syllable, or has the digit's final with an initial from the
same confusable group (E yì ~ 一 yī; G zhì ~ 七 qī; R ér ~ 二 èr; W "dà-bliù" ~ 六 liù).
English words inside the Mandarin sentence (espeak-ng marks them ``(en)…``) are spoken
with English phonemes and are not Mandarin syllables. An English reading is close when
its phonemes, stress ignored, are a digit's.

``hall config check`` prints ``voice_warnings``: ``letter_warnings`` for every queue letter
of a hall and ``pause_warnings`` for templates with no pause between the number and the
window; the phrase tests use ``clauses`` to check the words each call really produces.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

from voice.phrases import EN_DIGITS, ZH_DIGITS
from voice.settings import CALL_KINDS, VoiceSettings

VOWELS = frozenset("aeiouyAEIOUV@03")
# Initials heard alike before the same final (espeak-ng's Mandarin phoneme names).
INITIAL_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"", "j", "w"}),  # no initial / glides: 一 ji, E ji
    frozenset({"tS;", "tS;h", "ts.", "ts.h", "ts", "tsh", "s", "s.", "S;", "z", "z."}),
    frozenset({"l", "n"}),
    frozenset({"p", "ph"}),
    frozenset({"t", "th"}),
    frozenset({"k", "kh"}),
)
PAUSE_MARKS = frozenset("，,、；;。.：:！!？?—")
ZH_ONE_ALT = "幺"  # yāo: how 一 is read in numbers by many people
TIMEOUT = 10.0


class ReadingUnavailable(RuntimeError):
    """The espeak-ng command is not installed: readings cannot be checked."""


def phonemes(text: str, voice: str) -> str:
    """espeak-ng's phoneme mnemonics (``-x``) for a text in a voice, on one line."""
    return " ".join(clauses(text, voice))


def clauses(text: str, voice: str) -> list[str]:
    """espeak-ng's phoneme mnemonics (``-x``), one string per clause (a pause between)."""
    cmd = shutil.which("espeak-ng")
    if cmd is None:
        raise ReadingUnavailable("espeak-ng command not found (install Debian's espeak-ng)")
    run = subprocess.run([cmd, "-q", "-x", "-v", voice, "--", text], capture_output=True,
                         text=True, timeout=TIMEOUT, check=False)
    if run.returncode != 0:
        raise ReadingUnavailable(f"espeak-ng failed: {run.stderr.strip()[:200]}")
    return [" ".join(line.split()) for line in run.stdout.splitlines() if line.strip()]


def mandarin_syllables(x: str) -> list[str]:
    """The Mandarin syllables of ``-x`` output, tone and stress marks removed.

    "tS;h'i21N_| (en)g'055lf(cmn)_| ta35pliou33" -> ["tS;hiN", "ta", "pliou"]."""
    x = re.sub(r"\(en\).*?(\(cmn\)|$)", " ", x)
    out: list[str] = []
    for chunk in re.split(r"[\s_|]+", x.replace("'", "").replace(",", "")):
        parts = re.split(r"\d+", chunk)
        for i, part in enumerate(parts):
            if not part:
                continue
            if i and out and not (set(part) & VOWELS):
                out[-1] += part  # a coda written after the tone: l'i35N is "liN"
            else:
                out.append(part)
    return out


def split_syllable(syllable: str) -> tuple[str, str]:
    """(initial, final): "tS;hiN" -> ("tS;h", "iN")."""
    for i, c in enumerate(syllable):
        if c in VOWELS:
            return syllable[:i], syllable[i:]
    return syllable, ""


def syllables_close(a: str, b: str) -> bool:
    if a == b:
        return True
    (ia, fa), (ib, fb) = split_syllable(a), split_syllable(b)
    if fa != fb or not fa:
        return False
    if (ib and ia.endswith(ib)) or (ia and ib.endswith(ia)):  # "pliou" carries 六 "liou"
        return True
    return any(ia in g and ib in g for g in INITIAL_GROUPS)


def zh_digit_syllables(voice: str) -> dict[str, str]:
    """Each Mandarin digit's syllable, as this voice says it alone."""
    digits = ZH_DIGITS + ZH_ONE_ALT
    said = mandarin_syllables(phonemes(" ".join(digits), voice))
    if len(said) != len(digits):
        raise ReadingUnavailable(f"unexpected phonemes for the digits: {said}")
    return dict(zip(said, digits, strict=True))


def close_digit_zh(reading_x: str, digits: dict[str, str]) -> str | None:
    """The digit a Mandarin reading (its -x output) can be heard as, or None."""
    for syl in mandarin_syllables(reading_x):
        for dsyl, digit in digits.items():
            if syllables_close(syl, dsyl):
                return digit
    return None


def _plain(x: str) -> str:
    return re.sub(r"[',%=_|\s]", "", x)


def close_digit_en(reading_x: str, digits: dict[str, str]) -> str | None:
    return digits.get(_plain(reading_x))


def letter_warnings(settings: VoiceSettings, letters: Iterable[str]) -> list[str]:
    """A warning per queue letter whose reading, in a language the hall speaks, is close
    to a digit's. Raises ReadingUnavailable without the espeak-ng command."""
    out: list[str] = []
    for lang in settings.languages:
        voice = settings.voice(lang)
        if lang == "zh":
            zh = zh_digit_syllables(voice)
        else:
            en = {_plain(phonemes(w, voice)): w for w in EN_DIGITS}
        for letter in sorted(set(letters)):
            reading = settings.letter(lang, letter)
            x = phonemes(reading, voice)
            digit = close_digit_zh(x, zh) if lang == "zh" else close_digit_en(x, en)
            if digit is not None:
                out.append(f"voice.letters.{lang}.{letter}: queue letter {letter} is read "
                           f"{reading!r} [{x}], close to the digit {digit}: set a reading "
                           f"nobody hears as a number, e.g. {lang} = {{ {letter} = \"…\" }}")
    return out


def pause_warnings(settings: VoiceSettings) -> list[str]:
    """Templates that run the number into the window with no pause ("请A001号到5号窗口")."""
    out: list[str] = []
    for lang in settings.languages:
        for kind in CALL_KINDS:
            text = settings.template(lang, kind)
            start, end = text.find("{number}"), text.find("{window}")
            if start < 0 or end < start:
                continue
            if not set(text[start + len("{number}"):end]) & PAUSE_MARKS:
                out.append(f"voice.templates.{lang}_{kind}: no pause between {{number}} and "
                           f"{{window}}: put a comma before the window (e.g. "
                           f"\"请{{number}}号，到{{window}}号窗口办理\"), so the two numbers "
                           f"are not heard as one")
    return out


def voice_warnings(settings: VoiceSettings, letters: Iterable[str]) -> list[str]:
    """Everything ``hall config check`` warns about in a [voice] table (the hall still runs)."""
    if not settings.enabled:
        return []
    out = pause_warnings(settings)
    try:
        out.extend(letter_warnings(settings, letters))
    except ReadingUnavailable as exc:
        out.append(f"voice: letter readings not checked: {exc}")
    return out
