"""A hall's calendar and appointment settings, read once per hall config.

The hall file keeps ``[hall.hours]`` (with ``by_weekday``), ``[hall.calendar]`` and
``[appointments]`` as written; ``problems`` lists their mistakes for ``hall config check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hall.calendar import HallCalendar, parse_calendar
from hall.config import HallConfig
from ticketing import booking_rules as br
from ticketing.booking_rules import AppointmentSettings

_CACHE: dict[int, tuple[HallConfig, HallCalendar, AppointmentSettings]] = {}


def _parse(cfg: HallConfig) -> tuple[HallCalendar, AppointmentSettings, list[str]]:
    hours: dict[str, Any] = {"weekdays": list(cfg.hours.weekdays),
                             "periods": [f"{a}-{b}" for a, b in cfg.hours.periods]}
    by_weekday = getattr(cfg.hours, "by_weekday", None)
    if by_weekday:
        hours["by_weekday"] = dict(by_weekday)
    raw_calendar = getattr(cfg, "calendar", None)
    cal, found = parse_calendar(
        cfg.timezone, hours, dict(raw_calendar) if isinstance(raw_calendar, Mapping) else {})
    settings, more = br.parse_settings(getattr(cfg, "appointments", None) or None)
    return cal, settings, found + more


def hall_parts(cfg: HallConfig) -> tuple[HallConfig, HallCalendar, AppointmentSettings]:
    """(cfg, its calendar, its ``[appointments]`` settings); cached per config object."""
    cached = _CACHE.get(id(cfg))
    if cached is not None and cached[0] is cfg:
        return cached
    cal, settings, _ = _parse(cfg)
    _CACHE[id(cfg)] = (cfg, cal, settings)
    return cfg, cal, settings


def hall_calendar(cfg: HallConfig) -> HallCalendar:
    return hall_parts(cfg)[1]


def appointment_settings(cfg: HallConfig) -> AppointmentSettings:
    return hall_parts(cfg)[2]


def problems(cfg: HallConfig) -> list[str]:
    """The mistakes of a hall's calendar and ``[appointments]`` tables, for config check."""
    return _parse(cfg)[2]


def holiday_warnings(cfg: HallConfig, now: float) -> list[str]:
    """``hall config check`` warnings: a year from today to the end of the booking horizon
    without a national holiday file (``hall.calendar.HallCalendar.provisional``)."""
    _, cal, s = hall_parts(cfg)
    ahead = s.horizon_days if s.enabled else 0
    last = cal.local(now).date() + timedelta(days=ahead)
    out = []
    for year in cal.missing_years(now, ahead):
        reach = (f"booking reaches {last.isoformat()} (appointments.horizon_days = {ahead})"
                 if year == last.year and year != cal.local(now).year
                 else "today falls in it")
        out.append(
            f"hall.calendar: no national holiday file for {year} (hall/holidays/{year}.toml), "
            f"and {reach}: until the State Council's schedule for {year} is added, its days "
            "follow the weekly hours alone (only 1 Jan, 1–2 May and 1–3 Oct are closed as "
            "holidays; no Spring Festival break, no 调休 working weekend), their slots can be "
            "booked, and the dashboard marks them provisional for managers")
    return out
