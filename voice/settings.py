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
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from hall.config import ConfigError, check
from hall.config.schema import Table

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


_V = VoiceSettings()


def _languages(values: list[str]) -> list[str]:
    unknown = [x for x in values if x not in LANGUAGES]
    if not values:
        raise ValueError(f"must be a non-empty list drawn from {', '.join(LANGUAGES)}")
    if unknown:
        raise ValueError(f"unknown language(s) {', '.join(unknown)} "
                         f"(known: {', '.join(LANGUAGES)})")
    if len(set(values)) != len(values):
        raise ValueError("lists a language twice")
    return values


def _voice_id(value: str) -> str:
    if not value or not set(value) <= VOICE_ID_CHARS:
        raise ValueError(f"must be an espeak-ng voice id such as '{DEFAULT_VOICES['zh']}', "
                         f"got {value!r}")
    return value


def _template(value: str) -> str:
    problem = template_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _style(value: object) -> object:
    if value not in tuple(s.value for s in NumberStyle):
        raise ValueError(f"must be 'digits' (A零零一号) or 'number' (A一号), got {value!r}")
    return value


def _reading(value: str) -> str:
    if (not value.strip() or len(value) > MAX_LETTER_READING
            or not set(value) <= LETTER_READING_CHARS):
        raise ValueError(f"must be a word of letters or Chinese characters (at most "
                         f"{MAX_LETTER_READING}), such as \"Edward\", got {value!r}")
    return value.strip()


def _letter(value: str) -> str:
    if not (len(value) == 1 and "A" <= value <= "Z"):
        raise ValueError("must be one capital letter A-Z (a queue letter)")
    return value


Readings = dict[Annotated[str, AfterValidator(_letter)],
                Annotated[StrictStr, AfterValidator(_reading)]]


class LettersTable(Table):
    """[voice.letters]: per language, letter = reading; merged over DEFAULT_LETTERS."""

    zh: Readings = Field(default_factory=dict)
    en: Readings = Field(default_factory=dict)


VoiceId = Annotated[StrictStr, AfterValidator(_voice_id)]
Template = Annotated[StrictStr, AfterValidator(_template)]


class VoicesTable(Table):
    zh: VoiceId = DEFAULT_VOICES["zh"]
    en: VoiceId = DEFAULT_VOICES["en"]


class TemplatesTable(Table):
    zh_call: Template = DEFAULT_TEMPLATES["zh_call"]
    zh_recall: Template = DEFAULT_TEMPLATES["zh_recall"]
    en_call: Template = DEFAULT_TEMPLATES["en_call"]
    en_recall: Template = DEFAULT_TEMPLATES["en_recall"]


class VoiceTable(Table):
    """The ``[voice]`` table as written (defaults: ``VoiceSettings``)."""

    enabled: StrictBool = _V.enabled
    languages: Annotated[list[StrictStr], AfterValidator(_languages)] = Field(
        default_factory=lambda: list(_V.languages))
    number_style: Annotated[NumberStyle, BeforeValidator(_style)] = _V.number_style
    repeat: Annotated[StrictInt, Field(ge=1, le=MAX_REPEAT)] = _V.repeat
    rate: Annotated[StrictInt, Field(ge=MIN_RATE, le=MAX_RATE)] = _V.rate
    volume: Annotated[StrictFloat, Field(ge=0.1, le=1.0)] = _V.volume
    max_age_seconds: Annotated[StrictFloat, Field(ge=5.0, le=3600.0)] = _V.max_age_seconds
    voices: VoicesTable = VoicesTable()
    templates: TemplatesTable = TemplatesTable()
    letters: LettersTable = LettersTable()


def parse_voice(raw: Mapping[str, Any]) -> VoiceSettings:
    """Check a raw [voice] table; raise ConfigError naming every wrong field."""
    problems: list[str] = []
    table = check(VoiceTable, raw, ("voice",), problems)
    if table is None:
        raise ConfigError("", problems)
    return VoiceSettings(table.enabled, tuple(table.languages), table.number_style, table.repeat,
                         table.rate, table.volume, table.max_age_seconds,
                         table.voices.model_dump(), table.templates.model_dump(),
                         {lang: {**DEFAULT_LETTERS[lang], **given}
                          for lang, given in table.letters.model_dump().items()})


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
