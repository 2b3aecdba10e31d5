"""From a call to the words a hall speaks: "请A零零一号，到五号窗口办理", "Number A, zero …".

Pure: no Redis, no RQ, no speech engine. A call becomes an ``Announcement``: one
``Segment`` per configured language (the text shown on screens and the text spoken),
the repeat count, the speech rate/volume, and the key of its audio in the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from voice.settings import NumberStyle, VoiceSettings

ZH_DIGITS = "零一二三四五六七八九"
EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ZH_UNITS = ((1000, "千"), (100, "百"), (10, "十"))
KINDS = ("call", "recall")


def chinese_digits(digits: str) -> str:
    """Read digits one by one: "001" -> "零零一"."""
    return "".join(ZH_DIGITS[int(c)] if c.isdigit() and c.isascii() else c for c in digits)


def chinese_number(n: int) -> str:
    """0-99999 the way it is said: 5 五, 12 十二, 20 二十, 105 一百零五, 110 一百一十."""
    if not 0 <= n <= 99_999:
        raise ValueError(f"cannot read {n} in Chinese here (0-99999)")
    if n == 0:
        return ZH_DIGITS[0]
    out: list[str] = []
    rest = n
    if rest >= 10_000:
        out.append(ZH_DIGITS[rest // 10_000] + "万")
        rest %= 10_000
        if rest and rest < 1000:
            out.append(ZH_DIGITS[0])
    for value, unit in _ZH_UNITS:
        digit, rest = divmod(rest, value)
        if digit:
            out.append(ZH_DIGITS[digit] + unit)
        elif out and rest and not out[-1].endswith(ZH_DIGITS[0]):
            out.append(ZH_DIGITS[0])  # 一百零五, 一千零一十
    if rest:
        out.append(ZH_DIGITS[rest])
    text = "".join(out)
    # 10-19 are said 十, 十二 … rather than 一十, 一十二.
    return text[1:] if text.startswith("一十") else text


def split_ticket(number: str) -> tuple[str, str]:
    """"A001" -> ("A", "001"): the queue letters and the trailing digits."""
    end = len(number)
    while end > 0 and number[end - 1].isdigit() and number[end - 1].isascii():
        end -= 1
    return number[:end], number[end:]


def english_digits(digits: str) -> str:
    """Read digits one by one, always the same way: "045" -> "zero four five"."""
    return " ".join(EN_DIGITS[int(c)] for c in digits if c.isdigit() and c.isascii())


def spoken_letters(letters: str, settings: VoiceSettings, language: str) -> str:
    """The queue letter(s) as the hall reads them: zh "E" -> "Edward" (never heard as 一)."""
    words = [settings.letter(language, c) for c in letters]
    if language == "zh":
        # A Latin word next to another needs a space; CJK readings run together.
        out = ""
        for w in words:
            out += (" " if out and out[-1].isascii() and w[0].isascii() else "") + w
        return out
    return " ".join(words)


def spoken_ticket(number: str, style: NumberStyle, language: str,
                  settings: VoiceSettings | None = None) -> str:
    """How a ticket number is said.

    zh: the letter's reading, then digits one by one ("A零零一") or the number ("A一").
    en: the stressed letter, a pause, then always digit by digit: "E, zero zero one" ("number"
    style drops the leading zeros: "E, one"); never "zero forty-five" or "one hundred and …".
    """
    settings = settings or VoiceSettings(letters={})
    letters, digits = split_ticket(number)
    if not digits:
        return number
    head = spoken_letters(letters, settings, language)
    if language == "zh":
        if style is NumberStyle.DIGITS:
            return head + chinese_digits(digits)
        return head + chinese_number(int(digits))
    said = digits if style is NumberStyle.DIGITS else str(int(digits))
    return f"{head}, {english_digits(said)}" if head else english_digits(said)


def spoken_window(window: int, language: str) -> str:
    return chinese_number(window) if language == "zh" else str(window)


@dataclass(frozen=True)
class Segment:
    """One language's part of an announcement: what screens show and what is spoken."""

    language: str
    voice: str
    text: str
    speech: str


def segments_for(kind: str, number: str, window: int, settings: VoiceSettings
                 ) -> tuple[Segment, ...]:
    """The words of a call ('call') or a recall ('recall'), one segment per language."""
    if kind not in KINDS:
        raise ValueError(f"unknown call kind {kind!r}")
    out: list[Segment] = []
    for lang in settings.languages:
        template = settings.template(lang, kind)
        text = template.format(number=number, window=window)
        speech = template.format(number=spoken_ticket(number, settings.number_style, lang,
                                                      settings),
                                 window=spoken_window(window, lang))
        out.append(Segment(lang, settings.voice(lang), text, speech))
    return tuple(out)


# Bumped when files made before could be wrong: version 2 = every segment verified (its
# settings confirmed, its length checked). Files of older versions are never used again
# and are pruned once unused for KEEP_UNUSED_DAYS.
AUDIO_VERSION = 2


def audio_key(segments: tuple[Segment, ...], rate: int, volume: float) -> str:
    """The cache key of the audio: sha256 of each segment's (spoken text, voice, rate, volume)."""
    spec: list[object] = [[s.speech, s.voice, rate, volume] for s in segments]
    spec.append(AUDIO_VERSION)
    raw = json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Announcement:
    """A call to be spoken: its words, how to say them, and until when it is worth saying."""

    hall: str
    call_id: str  # stream id of the ticket.called / ticket.recalled event
    kind: str
    number: str
    window: int
    call_at: float
    segments: tuple[Segment, ...]
    repeat: int
    rate: int
    volume: float
    max_age_seconds: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    @property
    def audio_key(self) -> str:
        return audio_key(self.segments, self.rate, self.volume)

    def age(self, now: float) -> float:
        return now - self.call_at

    def is_stale(self, now: float) -> bool:
        """Too old to be said: a late announcement would send people to the wrong call."""
        return self.age(now) > self.max_age_seconds

    def event_data(self, audio_url: str, chime_url: str) -> dict[str, Any]:
        """The data of the ``voice.announce`` event the board plays."""
        return {
            "call_id": self.call_id, "kind": self.kind, "number": self.number,
            "window": self.window, "call_at": self.call_at, "text": self.text,
            "texts": {s.language: s.text for s in self.segments},
            "audio": audio_url, "chime": chime_url, "repeat": self.repeat,
            "max_age": self.max_age_seconds,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "hall": self.hall, "call_id": self.call_id, "kind": self.kind,
            "number": self.number, "window": self.window, "call_at": self.call_at,
            "segments": [[s.language, s.voice, s.text, s.speech] for s in self.segments],
            "repeat": self.repeat, "rate": self.rate, "volume": self.volume,
            "max_age_seconds": self.max_age_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Announcement:
        return cls(
            hall=str(data["hall"]), call_id=str(data["call_id"]), kind=str(data["kind"]),
            number=str(data["number"]), window=int(data["window"]),
            call_at=float(data["call_at"]),
            segments=tuple(Segment(*map(str, s)) for s in data["segments"]),
            repeat=int(data["repeat"]), rate=int(data["rate"]), volume=float(data["volume"]),
            max_age_seconds=float(data["max_age_seconds"]),
        )


def announcement_for(hall: str, call_id: str, kind: str, call_at: float,
                     ticket: dict[str, Any], settings: VoiceSettings) -> Announcement | None:
    """The announcement of a call event's ticket, or None when there is nothing to say."""
    number = ticket.get("number")
    window = ticket.get("window")
    if not settings.enabled or not isinstance(number, str) or not number:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        return None
    return Announcement(
        hall=hall, call_id=call_id, kind=kind, number=number, window=window, call_at=call_at,
        segments=segments_for(kind, number, window, settings), repeat=settings.repeat,
        rate=settings.rate, volume=settings.volume, max_age_seconds=settings.max_age_seconds,
    )
