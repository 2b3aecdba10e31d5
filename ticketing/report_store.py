"""The Redis side of reports: daily aggregates (kept for good) and reports over a date range.

Keys (under the hall's hash tag):

    hall:{h}:agg:<day>          string  a day's aggregate (JSON, ticketing/reports.py)
    hall:{h}:agg:days           zset    days that have an aggregate, score = yyyymmdd
    hall:{h}:agg:tickets        hash    day → how many tickets its aggregate covers

Today, and a day that has not been rolled up yet, is aggregated from its ticket
records on the fly, with the same pure function. A rolled-up day's records may later move
to the data folder (``ticketing.record_archiver``); ``day_tickets`` reads them there, and a
roll-up of such a day again keeps its stored aggregate (its records are gone from Redis,
as after retention).
Rolling a day up is also the hall's retention step, in the same MULTI: the day's ticket
and rating records and its day keys (counters, numbers, tickets) expire
``rules.record_retention_days`` after it, the ratings index drops entries older than
that, and the event stream is trimmed to the ``rules.stream_retention_days`` before the
day's end, by the events' own time (``ticketing.retention``, ``XTRIM MINID``).
Aggregates are kept for good.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from hall.calendar import local_day
from hall.config import HallConfig
from hall.errors import Invalid
from hall.text import as_str
from ticketing import reports
from ticketing.commit import Clock
from ticketing.keys import HallKeys
from ticketing.model import Ticket
from ticketing.rating_store import RatingKeys, RatingStore
from ticketing.ratings import rates
from ticketing.retention import stream_cutoff
from ticketing.store import TicketStore

MAX_REPORT_DAYS = 400


def agg_key(hall_id: str, day: str) -> str:
    return f"{HallKeys(hall_id).prefix}:agg:{day}"


def agg_days_key(hall_id: str) -> str:
    return f"{HallKeys(hall_id).prefix}:agg:days"


def agg_counts_key(hall_id: str) -> str:
    return f"{HallKeys(hall_id).prefix}:agg:tickets"


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise Invalid("'to' is before 'from'", code="invalid_date")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise Invalid(f"a report covers at most {MAX_REPORT_DAYS} days", code="range_too_long")
    return [(first + timedelta(days=i)).strftime("%Y%m%d") for i in range((last - first).days + 1)]


class ReportStore:
    def __init__(self, redis: Redis, tickets: TicketStore) -> None:
        self.redis = redis
        self.tickets = tickets
        self.clock: Clock = tickets.clock

    async def day_tickets(self, hall_id: str, day: str) -> tuple[list[Ticket], dict[str, str]]:
        """A day's ticket records (from Redis, or its archived file) and their ratings
        (ticket id → level; ratings stay in Redis)."""
        keys, rk = HallKeys(hall_id), RatingKeys(hall_id)
        ids = [as_str(i) for i in await self.redis.zrange(keys.day_tickets(day), 0, -1)]
        archived = None if ids else await self.tickets.archive.read_day(hall_id, day)
        if archived is not None:
            ids = [t.id for t in archived.tickets]
        if not ids:
            return [], {}
        async with self.redis.pipeline(transaction=False) as pipe:
            if archived is None:
                for i in ids:
                    pipe.hget(keys.ticket(i), "json")
            for i in ids:
                pipe.hget(rk.rating(i), "level")
            raw = await pipe.execute()
        if archived is not None:
            records: list[Any] = [t.fields.get("json") for t in archived.tickets]
        else:
            records, raw = raw[: len(ids)], raw[len(ids):]
        tickets = [Ticket.from_dict(json.loads(r)) for r in records if r is not None]
        levels = {i: as_str(lv) for i, lv in zip(ids, raw, strict=True) if lv is not None}
        return tickets, levels

    async def build_day(self, cfg: HallConfig, day: str, *, final: bool = False
                        ) -> dict[str, Any]:
        """A day's aggregate from its records; ``final``: as a finished day (the roll-up)."""
        tickets, levels = await self.day_tickets(cfg.id, day)
        now = self.clock()
        if final:
            now = max(now, reports.day_end(day, cfg.tz))
        return reports.aggregate_day(
            day, tickets, levels, now=now, tz=cfg.tz,
            issue_queue={m.code: m.queue for m in cfg.matters},
            rating_period_minutes=cfg.rules.rating_period_minutes,
            unrated_counts_as=cfg.rules.unrated_counts_as)

    async def rollup(self, hall_id: str, day: str) -> dict[str, Any]:
        """Store a day's aggregate for good and set its ticket records to expire."""
        cfg = self.tickets.hall(hall_id)
        keys, rk = HallKeys(hall_id), RatingKeys(hall_id)
        counted = await self.redis.hget(agg_counts_key(hall_id), day)
        if counted is not None and int(counted) > await self.redis.zcard(keys.day_tickets(day)):
            # its records are gone (retention): the aggregate is all that is left of the
            # day, and a roll-up of it again (an old day's, a second job) must keep it
            stored = await self.redis.get(agg_key(hall_id, day))
            if stored is not None:
                kept: dict[str, Any] = json.loads(stored)
                return kept
        agg = await self.build_day(cfg, day, final=True)
        ids = [as_str(i) for i in await self.redis.zrange(keys.day_tickets(day), 0, -1)]
        end = datetime.combine(datetime.strptime(day, "%Y%m%d").date() + timedelta(days=1),
                               datetime.min.time(), cfg.tz).timestamp()
        expire_at = int(end + cfg.rules.record_retention_days * 86400)
        # the stream keeps the days before this one's end; older events go (by their time)
        cut = await stream_cutoff(self.redis, keys.events,
                                  end - cfg.rules.stream_retention_days * 86400)
        async with self.redis.pipeline(transaction=True) as pipe:  # MULTI: all or nothing
            pipe.set(agg_key(hall_id, day), json.dumps(agg, separators=(",", ":")))
            pipe.zadd(agg_days_key(hall_id), {day: int(day)})
            pipe.hset(agg_counts_key(hall_id), day, len(ids))
            for i in ids:
                pipe.expireat(keys.ticket(i), expire_at)
                pipe.expireat(rk.rating(i), expire_at)
            for key in (keys.day_counters(day), keys.day_numbers(day), keys.day_tickets(day)):
                pipe.expireat(key, expire_at)
            pipe.zremrangebyscore(rk.ratings, "-inf",
                                  f"({end - cfg.rules.record_retention_days * 86400}")
            if cut is not None:
                pipe.xtrim(keys.events, minid=cut, approximate=False)
            await pipe.execute()
        return agg

    async def aggregates(self, cfg: HallConfig, days: list[str]) -> list[dict[str, Any]]:
        stored = await self.redis.mget([agg_key(cfg.id, d) for d in days])
        today = local_day(self.clock(), cfg.tz)
        out: list[dict[str, Any]] = []
        for day, raw in zip(days, stored, strict=True):
            if raw is not None and day != today:
                out.append(json.loads(raw))
            elif day <= today:
                agg = await self.build_day(cfg, day)
                if agg["groups"]["all"]:
                    out.append(agg)
        return out

    async def report(self, hall_id: str, first: date, last: date) -> dict[str, Any]:
        cfg = self.tickets.hall(hall_id)
        days = days_between(first, last)
        merged = reports.merge(await self.aggregates(cfg, days))
        start = datetime.combine(first, datetime.min.time(), cfg.tz).timestamp()
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), cfg.tz).timestamp()
        cases = await RatingStore(self.tickets).cases(hall_id, start, end - 0.001)
        total = merged["total"]
        return {
            "hall": hall_id, "from": first.isoformat(), "to": last.isoformat(),
            **merged,
            "rates": rates(total["served"], total["rated"], cases).to_dict(),
            "names": names(cfg),
        }


def names(cfg: HallConfig) -> dict[str, dict[str, str]]:
    return {
        "matter": {m.code: m.name_zh for m in cfg.matters},
        "queue": {q.letter: q.name_zh for q in cfg.queues},
        "window": {str(w.number): w.name_zh for w in cfg.windows},
        "clerk": {s.id: f"{s.name} ({s.staff_number})" for s in cfg.staff},
    }
