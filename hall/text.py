"""Small readings every package shares: Redis replies to text, "HH:MM" to a time, and a
YYYY-MM-DD day given by a person (query or command line)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from hall.errors import Invalid


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


def hall_id_chars(value: str) -> bool:
    """Whether ``value`` holds only what a hall id may: letters, digits, '-' and '_'."""
    return all(c.isalnum() or c in "-_" for c in value)


def hours_of(text: str) -> float:
    """ "HH:MM" as hours after midnight (``"13:30"`` → 13.5)."""
    moment = parse_hhmm(text)
    return moment.hour + moment.minute / 60.0


def parse_day(text: str, name: str) -> date:
    """A YYYY-MM-DD day from 1970 to 2999 (beyond, date arithmetic overflows: 422)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise Invalid(f"'{name}' must be a date like 2026-11-18, got '{text[:20]}'",
                      code="invalid_date") from None
    if not 1970 <= day.year <= 2999:
        raise Invalid(f"'{name}' must be a day between 1970 and 2999, got '{text}'",
                      code="invalid_date")
    return day
