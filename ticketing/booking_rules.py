"""Appointment rules, pure: the hall's ``[appointments]`` settings and every decision on them.

* a day is bookable from ``release_time`` local, ``horizon_days`` before it, until the
  slot's cut-off (``cutoff_minutes`` before it starts); change and cancel until then too;
* limits per identity: ``max_open_per_matter`` open bookings per matter, ``max_per_week``
  bookings per ISO week of the slots; ``no_show_limit`` no-shows within
  ``no_show_window_days`` block booking for ``block_days`` from the last of them;
* check-in from ``checkin_before_minutes`` before the slot to ``checkin_after_minutes``
  after it; later, the citizen is welcome as a walk-in (the booking is marked late);
* a checked-in ticket waits under the order key *slot start*: early check-in does not
  jump the queue, a check-in up to ``checkin_after_minutes`` late keeps its place
  (docs/ROUTING.md, the no-starvation bound).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

from hall.calendar import HallCalendar
from hall.errors import Forbidden, IllegalTransition
from hall.text import parse_hhmm

DAY = 86400.0


class KioskIdentity(str, Enum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True)
class AppointmentSettings:
    enabled: bool = True
    slot_minutes: int = 30
    walk_in_share: float = 0.5
    horizon_days: int = 14
    release_time: str = "00:00"
    cutoff_minutes: int = 60
    checkin_before_minutes: int = 30
    checkin_after_minutes: int = 15
    max_open_per_matter: int = 1
    max_per_week: int = 3
    no_show_limit: int = 3
    no_show_window_days: int = 180
    block_days: int = 90
    pow_bits: int = 16
    requests_per_minute: int = 30
    remote_queue: bool = True
    near_turn_ahead: int = 3
    kiosk_identity: KioskIdentity = KioskIdentity.OFF
    kiosk_tickets_per_day_per_matter: int = 1
    green_channel_age: int = 60


_BOUNDS: dict[str, tuple[float, float]] = {
    "walk_in_share": (0.0, 1.0), "horizon_days": (0, 90), "cutoff_minutes": (0, 7 * 1440),
    "checkin_before_minutes": (0, 240), "checkin_after_minutes": (0, 120),
    "max_open_per_matter": (1, 50), "max_per_week": (1, 100), "no_show_limit": (1, 100),
    "no_show_window_days": (1, 3650), "block_days": (0, 3650), "pow_bits": (0, 28),
    "requests_per_minute": (1, 100_000), "near_turn_ahead": (0, 100),
    "kiosk_tickets_per_day_per_matter": (1, 100), "green_channel_age": (0, 150),
}


def parse_settings(raw: Any) -> tuple[AppointmentSettings, list[str]]:
    """Read the hall file's ``[appointments]`` table; problems as 'field: explanation'."""
    if raw is None:
        return AppointmentSettings(), []
    if not isinstance(raw, Mapping):
        return AppointmentSettings(), ["appointments: must be a table"]
    problems: list[str] = []
    known = {f.name: f for f in fields(AppointmentSettings)}
    values: dict[str, Any] = {}
    defaults = AppointmentSettings()
    for key, value in raw.items():
        where = f"appointments.{key}"
        if key not in known:
            problems.append(f"{where}: unknown field (known: {', '.join(sorted(known))})")
            continue
        default = getattr(defaults, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                problems.append(f"{where}: must be true or false")
                continue
        elif isinstance(default, KioskIdentity):
            try:
                value = KioskIdentity(value)
            except ValueError:
                problems.append(f"{where}: must be off, optional or required, got {value!r}")
                continue
        elif isinstance(default, str):
            if not isinstance(value, str) or _hhmm(value) is None:
                problems.append(f"{where}: must be a time like '08:00', got {value!r}")
                continue
        elif isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(default, int) and not isinstance(value, int)
        ):
            problems.append(f"{where}: must be a {type(default).__name__}, got {value!r}")
            continue
        elif key in _BOUNDS and not _BOUNDS[key][0] <= value <= _BOUNDS[key][1]:
            low, high = _BOUNDS[key]
            problems.append(f"{where}: must be between {low:g} and {high:g}, got {value}")
            continue
        if key == "slot_minutes" and value not in (10, 15, 20, 30, 60):
            problems.append(f"{where}: must be 10, 15, 20, 30 or 60, got {value!r}")
            continue
        values[key] = value
    return AppointmentSettings(**values), problems


def _hhmm(text: str) -> time | None:
    try:
        return parse_hhmm(text)
    except ValueError:
        return None


# ---- when booking is possible -------------------------------------------------------


def release_at(cal: HallCalendar, day: date, s: AppointmentSettings) -> float:
    """When a day's slots open for booking (its release)."""
    moment = _hhmm(s.release_time) or time(0, 0)
    return cal.at(day - timedelta(days=s.horizon_days), moment)


def require_bookable(cal: HallCalendar, day: date, slot_start: float, now: float,
                     s: AppointmentSettings) -> None:
    """Refuse booking a slot not yet released, or past its cut-off."""
    if not s.enabled:
        raise Forbidden("this hall takes no appointments", code="appointments_disabled")
    if now < release_at(cal, day, s):
        raise IllegalTransition(
            f"slots of {day.isoformat()} open for booking "
            f"{cal.local(release_at(cal, day, s)):%Y-%m-%d %H:%M}", code="not_yet_bookable")
    require_before_cutoff(slot_start, now, s)


def require_before_cutoff(slot_start: float, now: float, s: AppointmentSettings) -> None:
    if now > slot_start - s.cutoff_minutes * 60.0:
        raise IllegalTransition(
            f"bookings close {s.cutoff_minutes} minutes before the slot; please come as a "
            "walk-in (no booking is needed)", code="past_cutoff")


def bookable_days(cal: HallCalendar, now: float, s: AppointmentSettings) -> list[date]:
    """Days with opening periods whose release has come, from today to the horizon."""
    today = cal.local(now).date()
    out = []
    for offset in range(s.horizon_days + 1):
        day = today + timedelta(days=offset)
        if cal.periods_on(day) and release_at(cal, day, s) <= now:
            out.append(day)
    return out


def week_bounds(cal: HallCalendar, day: date) -> tuple[float, float]:
    """POSIX seconds of Monday 00:00 of the day's ISO week and of the next Monday."""
    monday = day - timedelta(days=day.isoweekday() - 1)
    return cal.at(monday, time(0, 0)), cal.at(monday + timedelta(days=7), time(0, 0))


def blocked_until(no_shows: Iterable[float], now: float, s: AppointmentSettings) -> float | None:
    """Until when repeated no-shows block booking, or None.

    Blocked when some ``no_show_limit`` consecutive no-shows lie within
    ``no_show_window_days``; the block lasts ``block_days`` from the last of them.
    """
    times = sorted(no_shows)
    until: float | None = None
    k = s.no_show_limit
    for i in range(k - 1, len(times)):
        if times[i] - times[i - k + 1] <= s.no_show_window_days * DAY:
            end = times[i] + s.block_days * DAY
            if end > now and (until is None or end > until):
                until = end
    return until


def require_not_blocked(no_shows: Iterable[float], now: float, s: AppointmentSettings,
                        cal: HallCalendar) -> None:
    until = blocked_until(no_shows, now, s)
    if until is not None:
        raise Forbidden(
            f"after {s.no_show_limit} missed appointments, booking is paused until "
            f"{cal.local(until):%Y-%m-%d}; you are always welcome as a walk-in",
            code="booking_blocked")


# ---- check-in -----------------------------------------------------------------------


class CheckIn(str, Enum):
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"  # becomes a walk-in


def checkin_verdict(slot_start: float, now: float, s: AppointmentSettings) -> CheckIn:
    if now < slot_start - s.checkin_before_minutes * 60.0:
        return CheckIn.EARLY
    if now <= slot_start + s.checkin_after_minutes * 60.0:
        return CheckIn.ON_TIME
    return CheckIn.LATE


def checkin_order_key(slot_start: float) -> float:
    """The order key of a checked-in appointment: its slot start (see module doc)."""
    return slot_start


def checked_in_key(slot_key: float, walk_in_key: float) -> float:
    """The key a ticket checked in on time waits under: its slot's (``checkin_order_key``),
    or the key it would have as a walk-in when that is smaller (a green-channel head start)."""
    return min(slot_key, walk_in_key)


def reminder_due(slot_start: float, created_at: float, now: float) -> bool:
    """The day-before reminder: from 24 h to 2 h before the slot, for bookings made earlier."""
    return created_at < slot_start - DAY and slot_start - DAY <= now <= slot_start - 7200


def no_show_due(slot_start: float, now: float, s: AppointmentSettings) -> bool:
    """A booking not checked in by the end of its check-in window is a no-show."""
    return now > slot_start + s.checkin_after_minutes * 60.0


def local_label(cal: HallCalendar, at: float) -> str:
    return datetime.fromtimestamp(at, cal.tz).strftime("%Y-%m-%d %H:%M")
