"""A hall's opening periods as hours of the local day, and whether the hall is open at one.

The tide proposes, opens and lends only while the hall is open: never before opening,
after closing, or in a closure between two periods (the lunch break). Pure.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from hall.config import HallConfig
from hall.text import hours_of


def periods(cfg: HallConfig) -> list[tuple[float, float]]:
    """The hall's opening periods as (start, end) hours of the local day, in order."""
    return list(_hours(cfg.hours.periods))


@lru_cache(maxsize=64)
def _hours(spans: tuple[tuple[str, str], ...]) -> tuple[tuple[float, float], ...]:
    # parsed once per set of periods: the controller and the policy ask on every run
    return tuple(sorted((hours_of(a), hours_of(b)) for a, b in spans))


def open_at_hour(cfg: HallConfig, hour: float) -> bool:
    """Whether ``hour`` (local, fractional) lies inside an opening period (end excluded)."""
    return any(a <= hour < b for a, b in _hours(cfg.hours.periods))


def day_end(cfg: HallConfig) -> float:
    """The hour the hall's day ends: the end of its last opening period (0 without any)."""
    return max((b for _, b in _hours(cfg.hours.periods)), default=0.0)


def outside_day(cfg: HallConfig, hour: float) -> bool:
    """Whether ``hour`` is before the day's first period or after its last (a closure
    between two periods, the lunch break, is inside the day)."""
    spans = _hours(cfg.hours.periods)
    return not spans or hour < spans[0][0] or hour >= day_end(cfg)


def local_hour(cfg: HallConfig, at: float) -> float:
    """The hall-local hour of day (0-24, fractional) of the POSIX time ``at``."""
    local = datetime.fromtimestamp(at, cfg.tz)
    return local.hour + local.minute / 60 + local.second / 3600


def open_at(cfg: HallConfig, at: float) -> bool:
    """Whether the hall is open at POSIX time ``at``: a working weekday, inside a period."""
    weekday = datetime.fromtimestamp(at, cfg.tz).isoweekday()
    return weekday in cfg.hours.weekdays and open_at_hour(cfg, local_hour(cfg, at))
