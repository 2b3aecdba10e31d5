"""The nightly roll-up: an RQ job (queue ``reports``) per hall and day, enqueued after closing.

``rollup_job`` runs in ``hall worker``; ``RollupScheduler`` runs in each app process
and, every minute, enqueues the job for each recent day whose hall has closed and
whose tickets the stored aggregate does not cover (none yet, or tickets issued after
it). A ``SET NX`` claim per hall, day and ticket count makes several app processes
enqueue it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from rq import Queue

from hall.calendar import local_day
from hall.config import HallConfig, load_configured_halls
from hall.jobs import REPORTS_QUEUE
from hall.redis_conn import async_client, jobs_client
from hall.services import Key, Services
from hall.settings import Settings
from hall.streams import per_key
from hall.text import parse_hhmm
from ticketing.archive import schedule_archive
from ticketing.commit import Clock
from ticketing.keys import HallKeys
from ticketing.report_store import ReportStore, agg_counts_key
from ticketing.store import TicketStore

log = logging.getLogger("ticketing.rollup")
LOOKBACK_DAYS = 7
CLAIM_SECONDS = 3600
PIPELINE_HALLS = 250  # halls whose due days are read in one round trip (2,000 keys)
# The aggregate is the job's result (nothing reads RQ's copy): RQ keeps the finished job
# (~6.4 KB with its result) only this long. Every hall's roll-up runs in the same hour
# after closing, so with a day (as before) a whole night's jobs stayed: 128 MB at 20,000
# halls; with 10 minutes, those of the last 10 minutes.
ROLLUP_RESULT_SECONDS = 600


async def rollup_job(hall_id: str, day: str) -> dict[str, Any]:
    """RQ job: store the daily aggregate of one hall's day; returns its totals."""
    settings = Settings.from_env()
    if not settings.external_redis:
        raise RuntimeError("the reports worker needs REDIS_URL or REDIS_SENTINELS")
    halls = load_configured_halls(settings)
    client = async_client(settings)
    try:
        store = TicketStore(client, halls, time.time)
        agg = await ReportStore(client, store).rollup(hall_id, day)
    finally:
        await client.aclose()
    total = agg["groups"]["all"].get("", {})
    return {"hall": hall_id, "day": day, "issued": total.get("issued", 0),
            "served": total.get("served", 0)}


def enqueue_rollup(redis_url: str, hall_id: str, day: str) -> str:
    """Queue the roll-up of one day on the reports queue; returns the RQ job id."""
    # password / Sentinel come from the environment, as for every client (hall.redis_conn)
    connection = jobs_client(Settings.from_env(), redis_url or None)
    try:
        job = Queue(REPORTS_QUEUE, connection=connection).enqueue(
            rollup_job, hall_id, day, job_timeout=600, result_ttl=ROLLUP_RESULT_SECONDS)
        return str(job.id)
    finally:
        connection.close()


def candidate_days(cfg: HallConfig, now: float) -> list[str]:
    """The hall's recent days (``LOOKBACK_DAYS``) that have closed by ``now``."""
    today = local_day(now, cfg.tz)
    return [d for d, closing in _closings(cfg.timezone, _last_end(cfg), today) if closing < now]


def _last_end(cfg: HallConfig) -> str:
    return max((end for _, end in cfg.hours.periods), default="23:59")


@functools.lru_cache(maxsize=256)
def _closings(zone: str, last_end: str, today: str) -> tuple[tuple[str, float], ...]:
    """(day, closing time) of the lookback days up to ``today``: the same for every hall of
    a zone and closing hour, so computed once a day, not once a hall (20,000 halls)."""
    first = datetime.strptime(today, "%Y%m%d").date()
    end = parse_hhmm(last_end)
    out = []
    for i in range(LOOKBACK_DAYS, -1, -1):
        d = first - timedelta(days=i)
        closing = datetime(d.year, d.month, d.day, end.hour, end.minute, tzinfo=ZoneInfo(zone))
        out.append((d.strftime("%Y%m%d"), closing.timestamp()))
    return tuple(out)


async def due_days(client: Redis, cfg: HallConfig, now: float) -> list[str]:
    """Recent closed days of the hall with tickets that their aggregate does not cover."""
    return [day for _, day, _ in await due(client, [cfg], now)]


async def due(client: Redis, halls: list[HallConfig], now: float
              ) -> list[tuple[str, str, int]]:
    """(hall, day, tickets) of every due day of ``halls``: the days' ticket counts in one
    script call per 1,000 keys (``hall.streams.per_key``), then the aggregates' counts of
    the days that have tickets only."""
    return await due_of(client, [(cfg.id, day) for cfg in halls
                                 for day in candidate_days(cfg, now)])


async def due_of(client: Redis, asked: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """``due`` for the given (hall, day) pairs."""
    busy: list[tuple[str, str, int]] = []
    step = PIPELINE_HALLS * (LOOKBACK_DAYS + 1)
    for i in range(0, len(asked), step):  # a slice at a time: requests run between
        part = asked[i:i + step]
        counts = await per_key(client, "ZCARD", [HallKeys(h).day_tickets(d) for h, d in part])
        busy += [(h, d, int(n)) for (h, d), n in zip(part, counts, strict=True) if int(n)]
    out: list[tuple[str, str, int]] = []
    for i in range(0, len(busy), PIPELINE_HALLS):
        chunk = busy[i:i + PIPELINE_HALLS]
        async with client.pipeline(transaction=False) as pipe:
            for hall_id, day, _ in chunk:
                pipe.hget(agg_counts_key(hall_id), day)
            rolled = await pipe.execute()
        # a ticket issued after the roll-up (extended hours) makes the day due again
        out += [(h, d, n) for (h, d, n), r in zip(chunk, rolled, strict=True)
                if r is None or int(r) != n]
    return out


class RollupScheduler:
    """Enqueues due roll-ups once a minute (the job itself runs in ``hall worker``).

    A past day's tickets are final (a ticket is issued on the hall's today), so once a
    day of a hall is seen with no tickets, or with an aggregate that covers them, it is
    never read again: ``settled`` keeps, per hall, the newest past day up to which every
    lookback day is so. A tick then reads only today's count after closing (a ticket
    issued after the roll-up makes the day due again), the day after midnight, and the
    days still due (a job lost with its worker is enqueued again when its claim lapses):
    during opening hours, nothing at all, instead of 8 counts of 20,000 halls a minute.
    """

    def __init__(self, client: Redis, halls: dict[str, HallConfig], clock: Clock,
                 redis_url: str, interval: float = 60.0) -> None:
        self.client, self.halls, self.clock = client, halls, clock
        self.redis_url, self.interval = redis_url, interval
        self.task: asyncio.Task[None] | None = None
        self.settled: dict[str, str] = {}
        # halls of one zone and closing hour share their lookback days
        self._groups: dict[tuple[str, str], list[HallConfig]] = {}
        for cfg in halls.values():
            self._groups.setdefault((cfg.timezone, _last_end(cfg)), []).append(cfg)

    def asked(self, now: float) -> list[tuple[str, str]]:
        """The (hall, day) pairs to read: closed lookback days not settled."""
        out: list[tuple[str, str]] = []
        for (zone, last_end), group in self._groups.items():
            today = local_day(now, group[0].tz)
            days = [d for d, closing in _closings(zone, last_end, today) if closing < now]
            today_closed = bool(days) and days[-1] == today
            past = [d for d in days if d != today]
            newest_past = past[-1] if past else ""
            for cfg in group:
                settled = self.settled.get(cfg.id, "")
                if settled == newest_past and not today_closed:
                    continue
                out += [(cfg.id, d) for d in days if d > settled]
        return out

    def settle(self, asked: list[tuple[str, str]], due: list[tuple[str, str, int]],
               now: float) -> None:
        """Advance each asked hall's settled day over its past days found not due."""
        still = {(h, d) for h, d, _ in due}
        blocked: set[str] = set()
        for hall_id, day in asked:  # each hall's days in order, oldest first
            if hall_id in blocked:
                continue
            if (hall_id, day) in still or day >= local_day(now, self.halls[hall_id].tz):
                blocked.add(hall_id)
                continue
            self.settled[hall_id] = day

    async def tick(self) -> list[tuple[str, str]]:
        queued = []
        now = self.clock()
        asked = self.asked(now)
        found = await due_of(self.client, asked)
        self.settle(asked, found, now)
        for hall_id, day, count in found:
            cfg = self.halls[hall_id]
            claim = f"{HallKeys(hall_id).prefix}:agg:{day}:queued:{count}"
            if await self.client.set(claim, local_day(now, cfg.tz), nx=True, ex=CLAIM_SECONDS):
                await asyncio.to_thread(enqueue_rollup, self.redis_url, hall_id, day)
                queued.append((hall_id, day))
        await schedule_archive(self.client, self.halls, now, self.redis_url)  # once a day
        return queued

    async def run(self, first_delay: float) -> None:
        await asyncio.sleep(first_delay)
        while True:
            try:
                await self.tick()
            except Exception:  # keep scheduling through a Redis hiccup
                log.exception("roll-up scheduling failed")
            await asyncio.sleep(self.interval)


ROLLUP: Key[RollupScheduler] = Key("ticketing.rollup")


def scheduler_for(found: Services) -> RollupScheduler | None:
    """The app's scheduler, or None without a job queue (embedded Redis in tests)."""
    url = found.settings.redis_url or ""
    if not found.settings.external_redis:
        return None
    # Its own connection: a tick in flight at shutdown must not hold the app's client.
    client = async_client(found.settings, url or None)
    return RollupScheduler(client, found.halls, found.clock, url)


async def start(found: Services) -> None:
    scheduler = found.find(ROLLUP)
    if scheduler is not None:
        scheduler.task = asyncio.create_task(scheduler.run(first_delay=5.0),
                                             name="rollup-scheduler")


async def stop(found: Services) -> None:
    scheduler = found.find(ROLLUP)
    if scheduler is None:
        return
    if scheduler.task:
        scheduler.task.cancel()
        await asyncio.wait([scheduler.task], timeout=3)
    with contextlib.suppress(Exception):
        await scheduler.client.aclose()
