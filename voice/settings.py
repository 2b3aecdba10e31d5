"""A hall's voice settings: its ``[voice]`` table parsed and checked, every mistake named.

    [voice]
    enabled = true
    languages = ["zh", "en"]        # spoken in this order, one after the other
    number_style = "digits"         # "digits": A零零一号; "number": A一号
    repeat = 2                      # how many times the board plays each announcement
    rate = 150                      # words per minute (espeak-ng: 80-450)
    volume = 1.0                    # 0.1-1.0
    max_age_seconds = 60            # an announcement older than this is dropped, not played late
    voices = { zh = "sit/cmn-latn-pinyin", en = "gmw/en" }   # espeak-ng voice ids

    [voice.letters]                 # how a queue letter is read, per language (see DEFAULT_LETTERS)
    zh = { E = "Edward" }           # Mandarin: E would be heard as 一 (yī)
    en = { E = "E" }

    [voice.templates]               # {number} and {window} are filled in
    zh_call = "请{number}号，到{window}号窗口办理"     # the comma: a short pause before the window
    zh_recall = "请{number}号，尽快到{window}号窗口办理"
    en_call = "Number {number}, please go to window {window}"
    en_recall = "Number {number}, once again, please go to window {window}"
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

LANGUAGES = ("zh", "en")
CALL_KINDS = ("call", "recall")
PLACEHOLDERS = frozenset({"number", "window"})

DEFAULT_TEMPLATES: dict[str, str] = {
    "zh_call": "请{number}号，到{window}号窗口办理",
    "zh_recall": "请{number}号，尽快到{window}号窗口办理",
    "en_call": "Number {number}, please go to window {window}",
    "en_recall": "Number {number}, once again, please go to window {window}",
}
# espeak-ng's Mandarin voice that reads Chinese characters with Mandarin phonemes (the plain
# "sit/cmn" voice of espeak-ng 1.51 reads the pinyin of its dictionary as English).
DEFAULT_VOICES: dict[str, str] = {"zh": "sit/cmn-latn-pinyin", "en": "gmw/en"}

# How queue letters are read where espeak-ng's own letter name is unclear. In its Mandarin
# voice E is read yì (heard as 一 yī), G zhì (七 qī), R ér (二 èr), Z zì (七), W "dà-bliù"
# (六 liù) and J zhèi: they are read as English words instead, which espeak-ng speaks with
# English phonemes inside the Mandarin sentence. ``hall config check`` compares every queue
# letter's reading with the digits' (voice/readings.py). Letters not listed are read as is.
DEFAULT_LETTERS: dict[str, dict[str, str]] = {
    "zh": {"E": "Edward", "G": "Golf", "J": "Jack", "R": "Robert", "W": "Double U",
           "Z": "Zebra"},
    "en": {},
}
MAX_LETTER_READING = 24
LETTER_READING_CHARS = frozenset(string.ascii_letters + " -'") | frozenset(
    chr(c) for c in range(0x4E00, 0xA000))  # Latin words or CJK characters, nothing else

MIN_RATE, MAX_RATE = 80, 450
MAX_REPEAT = 5
MAX_TEMPLATE = 120
VOICE_ID_CHARS = frozenset(string.ascii_letters + string.digits + "/-_+")


class NumberStyle(str, Enum):
    DIGITS = "digits"  # A001 -> A零零一
    NUMBER = "number"  # A001 -> A一; A012 -> A十二


class VoiceConfigError(ValueError):
    """A [voice] table with mistakes; ``problems`` lists each as 'field: explanation'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class VoiceSettings:
    enabled: bool = True
    languages: tuple[str, ...] = ("zh",)
    number_style: NumberStyle = NumberStyle.DIGITS
    repeat: int = 2
    rate: int = 150
    volume: float = 1.0
    max_age_seconds: float = 60.0
    voices: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))
    templates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    letters: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_LETTERS.items()})

    def letter(self, language: str, letter: str) -> str:
        """How one queue letter is read in a language (the letter itself unless configured)."""
        return self.letters.get(language, {}).get(letter, letter)

    def template(self, language: str, kind: str) -> str:
        return self.templates[f"{language}_{kind}"]

    def voice(self, language: str) -> str:
        return self.voices[language]


def parse_voice(raw: Mapping[str, Any]) -> VoiceSettings:
    """Check a raw [voice] table; raise VoiceConfigError naming every wrong field."""
    problems: list[str] = []
    d = VoiceSettings()

    def err(key: str, message: str) -> None:
        problems.append(f"voice.{key}: {message}")

    known = {"enabled", "languages", "number_style", "repeat", "rate", "volume",
             "max_age_seconds", "voices", "templates", "letters"}
    for key in sorted(set(raw) - known):
        err(key, f"unknown setting (known: {', '.join(sorted(known))})")

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        err("enabled", f"must be true or false, got {enabled!r}")
        enabled = True

    languages_raw = raw.get("languages", list(d.languages))
    languages: tuple[str, ...] = d.languages
    if (not isinstance(languages_raw, list) or not languages_raw
            or not all(isinstance(x, str) for x in languages_raw)):
        err("languages", f"must be a non-empty list drawn from {', '.join(LANGUAGES)}")
    elif any(x not in LANGUAGES for x in languages_raw):
        bad = [x for x in languages_raw if x not in LANGUAGES]
        err("languages", f"unknown language(s) {', '.join(bad)} (known: {', '.join(LANGUAGES)})")
    elif len(set(languages_raw)) != len(languages_raw):
        err("languages", "lists a language twice")
    else:
        languages = tuple(languages_raw)

    style_raw = raw.get("number_style", d.number_style.value)
    try:
        style = NumberStyle(style_raw)
    except ValueError:
        err("number_style", f"must be 'digits' (A零零一号) or 'number' (A一号), got {style_raw!r}")
        style = d.number_style

    repeat = _whole(raw, "repeat", d.repeat, 1, MAX_REPEAT, err)
    rate = _whole(raw, "rate", d.rate, MIN_RATE, MAX_RATE, err)
    volume = _real(raw, "volume", d.volume, 0.1, 1.0, err)
    max_age = _real(raw, "max_age_seconds", d.max_age_seconds, 5.0, 3600.0, err)

    voices = dict(DEFAULT_VOICES)
    voices_raw = raw.get("voices", {})
    if not isinstance(voices_raw, Mapping):
        err("voices", "must be a table of language = espeak-ng voice id")
    else:
        for lang, vid in voices_raw.items():
            if lang not in LANGUAGES:
                err(f"voices.{lang}", f"unknown language (known: {', '.join(LANGUAGES)})")
            elif not isinstance(vid, str) or not vid or not set(vid) <= VOICE_ID_CHARS:
                err(f"voices.{lang}", f"must be an espeak-ng voice id such as "
                                      f"'{DEFAULT_VOICES[lang]}', got {vid!r}")
            else:
                voices[lang] = vid

    templates = dict(DEFAULT_TEMPLATES)
    templates_raw = raw.get("templates", {})
    if not isinstance(templates_raw, Mapping):
        err("templates", "must be a table such as zh_call = \"请{number}号到{window}号窗口办理\"")
    else:
        for key, text in templates_raw.items():
            if key not in DEFAULT_TEMPLATES:
                err(f"templates.{key}", f"unknown template (known: {', '.join(DEFAULT_TEMPLATES)})")
                continue
            problem = template_problem(text)
            if problem:
                err(f"templates.{key}", problem)
            else:
                templates[key] = text

    letters = _letters(raw.get("letters", {}), err)

    if problems:
        raise VoiceConfigError(problems)
    return VoiceSettings(enabled, languages, style, repeat, rate, volume, max_age, voices,
                         templates, letters)


def _letters(raw: object, err: Callable[[str, str], None]) -> dict[str, dict[str, str]]:
    """[voice.letters]: per language, letter = reading; merged over DEFAULT_LETTERS."""
    out = {k: dict(v) for k, v in DEFAULT_LETTERS.items()}
    if not isinstance(raw, Mapping):
        err("letters", 'must be a table such as zh = { E = "Edward" }')
        return out
    for lang, table in raw.items():
        if lang not in LANGUAGES:
            err(f"letters.{lang}", f"unknown language (known: {', '.join(LANGUAGES)})")
            continue
        if not isinstance(table, Mapping):
            err(f"letters.{lang}", 'must be a table of letter = reading, such as { E = "Edward" }')
            continue
        for letter, reading in table.items():
            where = f"letters.{lang}.{letter}"
            if not (isinstance(letter, str) and len(letter) == 1 and "A" <= letter <= "Z"):
                err(where, "must be one capital letter A-Z (a queue letter)")
            elif (not isinstance(reading, str) or not reading.strip()
                  or len(reading) > MAX_LETTER_READING
                  or not set(reading) <= LETTER_READING_CHARS):
                err(where, f"must be a word of letters or Chinese characters (at most "
                           f"{MAX_LETTER_READING}), such as \"Edward\", got {reading!r}")
            else:
                out[lang][letter] = reading.strip()
    return out


def template_problem(text: object) -> str | None:
    """Why a template cannot be used, or None: it must name {number} and may name {window}."""
    if not isinstance(text, str) or not text.strip():
        return "must be non-empty text"
    if len(text) > MAX_TEMPLATE:
        return f"is longer than {MAX_TEMPLATE} characters"
    try:
        fields = [name for _, name, spec, conv in string.Formatter().parse(text)
                  if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc}); write literal braces as {{{{ and }}}}"
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        return f"unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)}; " \
               f"use {{number}} and {{window}}"
    if "number" not in fields:
        return "must contain {number}"
    return None


def _whole(raw: Mapping[str, Any], key: str, default: int, low: int, high: int,
           err: Callable[[str, str], None]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        err(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return default
    if not low <= value <= high:
        err(key, f"must be from {low} to {high}, got {value}")
        return default
    return value


def _real(raw: Mapping[str, Any], key: str, default: float, low: float, high: float,
          err: Callable[[str, str], None]) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        err(key, f"must be a number from {low:g} to {high:g}, got {value!r}")
        return default
    if not low <= value <= high:
        err(key, f"must be from {low:g} to {high:g}, got {value}")
        return default
    return float(value)
