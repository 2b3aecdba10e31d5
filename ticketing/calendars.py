"""A hall's calendar and appointment settings, read once per hall config."""

from __future__ import annotations

from hall.calendar import HallCalendar, parse_calendar
from hall.config import HallConfig
from ticketing import booking_rules as br
from ticketing.booking_rules import AppointmentSettings

_CACHE: dict[int, tuple[HallConfig, HallCalendar, AppointmentSettings]] = {}


def hall_parts(cfg: HallConfig) -> tuple[HallConfig, HallCalendar, AppointmentSettings]:
    """(cfg, its calendar, its ``[appointments]`` settings); cached per config object."""
    cached = _CACHE.get(id(cfg))
    if cached is not None and cached[0] is cfg:
        return cached
    cal = getattr(cfg, "calendar", None)
    if not isinstance(cal, HallCalendar):
        hours = {"weekdays": list(cfg.hours.weekdays),
                 "periods": [f"{a}-{b}" for a, b in cfg.hours.periods]}
        cal, _ = parse_calendar(cfg.timezone, hours, {})
    settings, _ = br.parse_settings(getattr(cfg, "appointments", None) or None)
    _CACHE[id(cfg)] = (cfg, cal, settings)
    return cfg, cal, settings


def hall_calendar(cfg: HallConfig) -> HallCalendar:
    return hall_parts(cfg)[1]


def appointment_settings(cfg: HallConfig) -> AppointmentSettings:
    return hall_parts(cfg)[2]
