"""Two small readings every package shares: Redis replies to text, and "HH:MM" to a time."""

from __future__ import annotations

from datetime import time
from typing import Any


def as_str(value: Any) -> str:
    """A Redis reply (bytes, or already text with ``decode_responses``) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_hhmm(text: object) -> time:
    """Strict "HH:MM" (two digits each, 00:00–23:59) → a time; ValueError otherwise."""
    if isinstance(text, str) and len(text) == 5 and text[2] == ":":
        hh, mm = text[:2], text[3:]
        if hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60:
            return time(int(hh), int(mm))
    raise ValueError(f"must be a time like '09:00', got {text!r}")


def hours_of(text: str) -> float:
    """ "HH:MM" as hours after midnight (``"13:30"`` → 13.5)."""
    moment = parse_hhmm(text)
    return moment.hour + moment.minute / 60.0
