"""A family of day shapes for judging tide policies, split into tuning and judged sets.

Five shapes (relative arrivals per clock hour; the hall's opening periods cut them):
``flat``; ``morning`` (a peak 09-11); ``afternoon`` (a peak 14-16); ``double`` (the
district peak day: 09:30-11 and 14:30-16); ``after_holiday`` (the first day after a
holiday: the double shape at 1.5 × volume with a pension-claim surge 09:30-11:00).

Settings are chosen on ``TUNING`` (shapes and seeds) and judged on ``JUDGED`` (other
shapes, other seeds); a benchmark reports both so over-fitting shows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hall.calendar import NationalCalendar
from hall.config import HallConfig
from tide.arrivals import generate_arrivals
from tide.history import counts_of, hourly_shape, profile_for
from tide.profiles import DISTRICT_SHARES, PEAK_SHAPE, DayProfile, Surge, shaped_profile


def _hours(values: dict[int, float]) -> tuple[float, ...]:
    return tuple(values.get(h, 0.0) for h in range(24))


FLAT = _hours({h: 1.0 for h in range(8, 18)})
MORNING = _hours({8: 1.3, 9: 1.8, 10: 1.7, 11: 1.1, 12: 0.6, 13: 0.6, 14: 0.7, 15: 0.7,
                  16: 0.6, 17: 0.5})
AFTERNOON = _hours({8: 0.6, 9: 0.7, 10: 0.8, 11: 0.7, 12: 0.6, 13: 0.8, 14: 1.6, 15: 1.8,
                    16: 1.3, 17: 0.8})
DOUBLE = PEAK_SHAPE


@dataclass(frozen=True)
class Shape:
    name: str
    hourly: tuple[float, ...]
    volume: float = 1.0  # × the hall's usual tickets per day
    surges: tuple[Surge, ...] = ()
    peaks: tuple[float, ...] = ()  # hours the peaks start (for "opened how early")


SHAPES = {
    "flat": Shape("flat", FLAT),
    "morning": Shape("morning", MORNING, peaks=(9.0,)),
    "afternoon": Shape("afternoon", AFTERNOON, peaks=(14.0,)),
    "double": Shape("double", DOUBLE, peaks=(9.5, 14.5)),
    "after_holiday": Shape("after_holiday", DOUBLE, 1.5,
                           (Surge(9.5, 11.0, 2.0, ("SB-YLJ", "SB-CB")),), peaks=(9.5, 14.5)),
}
TUNING = (("double", range(1, 9)), ("morning", range(1, 9)))
JUDGED = (("flat", range(101, 109)), ("afternoon", range(101, 109)),
          ("after_holiday", range(101, 109)), ("double", range(201, 209)))

TICKETS = {"district": 260.0, "town": 110.0}
TOWN_SHARES = {"A": 0.7, "B": 0.15, "H": 0.15}


def shares_for(cfg: HallConfig) -> dict[str, float]:
    """Queue shares of a day's tickets: the district's, the town's, else even."""
    known = DISTRICT_SHARES if cfg.id == "district" else TOWN_SHARES
    raw = {q.letter: known.get(q.letter, 0.0) for q in cfg.queues}
    total = sum(raw.values())
    if total <= 0:
        return {q.letter: 1.0 / len(cfg.queues) for q in cfg.queues}
    return {q: v / total for q, v in raw.items()}


def day_of(cfg: HallConfig, shape: Shape, tickets: float | None = None) -> DayProfile:
    """The shape as a day profile of this hall."""
    volume = (tickets if tickets is not None else TICKETS.get(cfg.id, 200.0)) * shape.volume
    return shaped_profile(cfg, volume, shape.hourly, shares_for(cfg), surges=shape.surges)


HISTORY_SEEDS = range(901, 905)  # the four past same weekdays a hall's history holds


def history_shape(cfg: HallConfig, profile: DayProfile, seeds: Iterable[int] = HISTORY_SEEDS,
                  day: date = date(2026, 11, 18)) -> tuple[float, ...]:
    """The hourly pattern the live controller would read from the hall's history
    (``tide.history``: same weekday, counts per 15 minutes) when the past weeks' days had
    this profile: their tickets are drawn with ``seeds`` (never a judged or tuning seed)."""
    history = []
    for k, seed in enumerate(seeds):
        past = day - timedelta(weeks=k + 1)
        origin = datetime.combine(past, time(0), tzinfo=cfg.tz).timestamp()
        people = generate_arrivals(cfg, profile, random.Random(seed))
        history.append(counts_of(cfg, past, [(origin + a.at, a.matter) for a in people]))
    forecast = profile_for(cfg, history, day, NationalCalendar(holidays={}, years=frozenset()))
    return hourly_shape(forecast, cfg) if forecast is not None else ()
