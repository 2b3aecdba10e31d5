"""Day profiles from the hall's own ticket records: arrivals per matter per 15 minutes.

``read_history`` reads past days' tickets (``hall:{h}:day:<d>:tickets`` and each ticket's
matter) from Redis, or from the day's archived file (``ticketing.record_archive``);
``profile_for`` averages the days like the one asked for — the same weekday, and the same
"first working day after a holiday" flag (national calendar) — into a ``DayProfile``
(15-minute slots), falling back to every working day when too few match.
``hourly_shape`` turns it into the 24-value pattern the predictive policy reads.
Pure apart from ``read_history``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from hall.calendar import NationalCalendar
from hall.config import HallConfig
from hall.text import as_str
from ticketing.keys import HallKeys
from ticketing.record_archive import RecordArchive
from tide.hours import periods
from tide.profiles import DayProfile

SLOT_MINUTES = 15
SLOTS = 24 * 60 // SLOT_MINUTES
MIN_DAYS = 3  # fewer matching days than this: use every working day


@dataclass(frozen=True)
class DayCounts:
    """One past day: tickets per matter per 15-minute slot (local time)."""

    day: date
    counts: Mapping[str, tuple[int, ...]]

    @property
    def total(self) -> int:
        return sum(sum(c) for c in self.counts.values())


def after_holiday(day: date, calendar: NationalCalendar) -> bool:
    """The first working day after a statutory holiday (the days off just before it)."""
    d = day - timedelta(days=1)
    while not calendar.is_working_day(d):
        if calendar.holiday(d) is not None:
            return True
        d -= timedelta(days=1)
        if (day - d).days > 10:
            break
    return False


def counts_of(cfg: HallConfig, day: date, tickets: Sequence[tuple[float, str]]) -> DayCounts:
    """A day's (issued_at, matter) pairs as counts per matter and slot."""
    per: dict[str, list[int]] = {m.code: [0] * SLOTS for m in cfg.matters}
    for at, matter in tickets:
        local = datetime.fromtimestamp(at, cfg.tz)
        if matter in per:
            per[matter][(local.hour * 60 + local.minute) // SLOT_MINUTES] += 1
    return DayCounts(day, {m: tuple(v) for m, v in per.items()})


def matching_days(history: Sequence[DayCounts], day: date, calendar: NationalCalendar
                  ) -> list[DayCounts]:
    """The past days like ``day``: same weekday and after-holiday flag (else every day)."""
    flag = after_holiday(day, calendar)
    same = [h for h in history if h.day.isoweekday() == day.isoweekday()
            and after_holiday(h.day, calendar) == flag and h.total > 0]
    if len(same) >= MIN_DAYS:
        return same
    if flag:  # an after-holiday day: any after-holiday day, else everything
        after = [h for h in history if after_holiday(h.day, calendar) and h.total > 0]
        if len(after) >= 1:
            return after
    return [h for h in history if h.total > 0]


def profile_for(cfg: HallConfig, history: Sequence[DayCounts], day: date,
                calendar: NationalCalendar, base: DayProfile | None = None) -> DayProfile | None:
    """The expected day: mean arrivals per matter per slot over the matching past days
    (rates per hour), on ``base``'s citizen behaviour; None without any history."""
    days = matching_days(history, day, calendar)
    if not days:
        return None
    hourly = {m.code: tuple(sum(d.counts.get(m.code, (0,) * SLOTS)[i] for d in days)
                            / len(days) * (60 / SLOT_MINUTES) for i in range(SLOTS))
              for m in cfg.matters}
    template = base if base is not None else DayProfile(hourly={})
    return replace(template, hourly=hourly, slot_minutes=SLOT_MINUTES, surges=(), scale=1.0)


def hourly_shape(profile: DayProfile, cfg: HallConfig | None = None) -> tuple[float, ...]:
    """The profile's hall-wide arrivals per clock hour (24 values), for the policy; with
    ``cfg``, per hour the hall is open (an hour half closed, e.g. 13:00 with the hall
    re-opening at 13:30, counts its half hour's arrivals twice), so the pattern compares
    rates, not how long the hall was open."""
    per_hour = 60 // profile.slot_minutes
    total = [0.0] * 24
    for rates in profile.hourly.values():
        for i, r in enumerate(rates):
            total[(i // per_hour) % 24] += r / per_hour
    if cfg is None:
        return tuple(total)
    opened = [sum(max(0.0, min(b, h + 1) - max(a, h)) for a, b in periods(cfg))
              for h in range(24)]
    return tuple(v / f if f > 0 else 0.0 for v, f in zip(total, opened, strict=True))


async def read_history(redis: Redis, cfg: HallConfig, days: Sequence[date],
                       archive: RecordArchive | None = None) -> list[DayCounts]:
    """Each past day's tickets (issue time and matter) from the hall's records, in two
    round trips (every day's ticket ids, then every ticket); the days whose records were
    archived are read from their files through ``archive`` (one more trip for their index
    entries)."""
    keys = HallKeys(cfg.id)
    async with redis.pipeline(transaction=False) as pipe:
        for day in days:
            pipe.zrange(keys.day_tickets(day.strftime("%Y%m%d")), 0, -1)
        id_lists: list[Any] = await pipe.execute()
    wanted = [(i, as_str(t)) for i, ids in enumerate(id_lists) for t in ids]
    raw: list[Any] = []
    if wanted:
        async with redis.pipeline(transaction=False) as pipe:
            for _, tid in wanted:
                pipe.hget(keys.ticket(tid), "json")
            raw = await pipe.execute()
    if archive is not None and archive.root is not None:
        gone = [i for i, ids in enumerate(id_lists) if not ids]
        found = await archive.read_days(cfg.id, [days[i].strftime("%Y%m%d") for i in gone])
        for i, records in zip(gone, found, strict=True):
            for line in records.tickets if records is not None else ():
                wanted.append((i, line.id))
                raw.append(line.fields.get("json"))
    per_day: list[list[tuple[float, str]]] = [[] for _ in days]
    for (i, _), r in zip(wanted, raw, strict=True):
        if r is not None:
            t = json.loads(r)
            per_day[i].append((float(t["issued_at"]), str(t["matter"])))
    return [counts_of(cfg, day, tickets) if tickets else DayCounts(day, {})
            for day, tickets in zip(days, per_day, strict=True)]


def past_days(day: date, weeks: int = 8) -> list[date]:
    """The ``weeks`` × 7 calendar days before ``day``."""
    return [day - timedelta(days=k) for k in range(1, weeks * 7 + 1)]
