"""The ticket-record archive on real Redis and a real data folder: rolled-up days older than
``archive_after_days`` move out of Redis into files, and every reader of old records
(reports, a ticket by id and its rating, the tide's day profile) answers as before; a crash
between writing and removing is completed by the next run, a late change aborts the
removal, files go after ``record_retention_days``, and a real ``hall worker`` archives
from the roll-up scheduler's daily sweep."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.asyncio import Redis

from hall.audit_archive import unpack
from hall.audit_store import AuditTrail
from hall.audit_trail import DEPLOYMENT
from hall.calendar import national_calendar
from hall.config import HallConfig
from tests.support import FakeClock, move_expiry_clock
from tests.voice_support import WorkerProcess
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.rating_store import RatingStore
from ticketing.record_archive import RecordArchive, records_index_key, records_of
from ticketing.record_archiver import RecordArchiver
from ticketing.report_store import ReportStore, agg_key
from ticketing.rollup import RollupScheduler
from ticketing.store import TicketStore
from tide.history import past_days, profile_for, read_history

pytestmark = pytest.mark.asyncio(loop_scope="session")
H = "village"
# 30 days before the real date: Redis expires by its own clock, so the records must be
# alive at the real time (180 days) and the retention test's boundary known (31 days)
FIRST = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=30)
DAYS = 9
DAY = 86400


async def a_day(store: TicketStore, clock: FakeClock, day: date, n: int) -> list[str]:
    """``n`` tickets from 09:00, one every 20 minutes; the first served and rated."""
    tz = store.halls[H].tz
    clock.now = datetime(day.year, day.month, day.day, 9, tzinfo=tz).timestamp()
    ids = []
    for _ in range(n):
        ticket, _ = await store.issue(H, "CM-ZM", Channel.KIOSK)
        ids.append(ticket.id)
        clock.advance(1200)
    await store.change_window(H, 1, lambda w, now: model.login(w, "V01", now))
    called = await store.call_next(H, 1)
    assert called is not None
    await store.start(H, 1)
    clock.advance(300)
    done = await store.finish(H, 1)
    await RatingStore(store).rate(H, done, "dissatisfied" if n % 2 else "satisfied", "",
                                  "pad")
    await store.change_window(H, 1, lambda w, now: model.logout(w, now))
    return ids


async def history(fixture: Fixture) -> object:
    cfg = fixture.store.halls[H]
    today = datetime.fromtimestamp(fixture.clock.now, cfg.tz).date()
    days = await read_history(fixture.store.redis, cfg, past_days(today), fixture.store.archive)
    return days, profile_for(cfg, days, today, national_calendar())


@dataclasses.dataclass
class Fixture:
    store: TicketStore
    clock: FakeClock
    reports: ReportStore
    archiver: RecordArchiver
    days: list[str]
    ids: list[list[str]]


async def build(aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path,
                retention_days: int = 180) -> Fixture:
    cfg = halls[H]
    cfg = dataclasses.replace(cfg, rules=dataclasses.replace(
        cfg.rules, record_retention_days=retention_days))
    clock = FakeClock()
    store = TicketStore(aredis, {H: cfg}, clock)
    store.archive = RecordArchive(aredis, tmp_path)
    reports = ReportStore(aredis, store)
    days, ids = [], []
    for i in range(DAYS):
        d = FIRST + timedelta(days=i)
        ids.append(await a_day(store, clock, d, 3 + i % 3))
        days.append(d.strftime("%Y%m%d"))
    for d in days:
        await reports.rollup(H, d)
    clock.now = datetime.combine(FIRST + timedelta(days=DAYS + 7), datetime.min.time(),
                                 cfg.tz).timestamp() + 10 * 3600
    return Fixture(store, clock, reports, RecordArchiver(aredis, tmp_path, {H: cfg}),
                   days, ids)


async def answers(f: Fixture) -> dict[str, object]:
    """What every reader of old records answers (the report, each ticket, its rating, the
    tide's history and profile, each day's records as reports read them)."""
    ratings = RatingStore(f.store)
    tickets = {i: (await f.store.ticket(H, i)).to_dict() for ids in f.ids for i in ids}
    rated = {i: r.to_dict() if (r := await ratings.rating_of(H, i)) else None
             for ids in f.ids for i in ids}
    day_records = {d: [t.to_dict() for t in (await f.reports.day_tickets(H, d))[0]]
                   for d in f.days}
    levels = {d: (await f.reports.day_tickets(H, d))[1] for d in f.days}
    return {"report": await f.reports.report(H, FIRST, FIRST + timedelta(days=DAYS - 1)),
            "tickets": tickets, "ratings": rated, "days": day_records, "levels": levels,
            "history": await history(f)}


async def test_archived_days_read_back_the_same_by_every_reader(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    f = await build(aredis, halls, tmp_path)
    before = await answers(f)
    keys = HallKeys(H)
    swept = await f.archiver.sweep([H], 7, f.clock.now)
    # the clock stands on day 9 + 7: days 1..9 are 7+ days old
    assert swept.archived == DAYS and swept.refused == 0
    for d, ids in zip(f.days, f.ids, strict=True):
        assert await aredis.exists(keys.day_tickets(d), keys.day_numbers(d),
                                   keys.day_counters(d), *map(keys.ticket, ids)) == 0
        assert await aredis.exists(records_index_key(H, d)) == 1
        path = tmp_path / "archive" / H / f"{d}.records.jsonl.gz"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert [t.id for t in records_of(unpack(path.read_bytes())).tickets] == ids
    # the index expires when the records would have: 180 days after a day 30 days ago
    assert 149 * DAY < await aredis.ttl(records_index_key(H, f.days[0])) <= 151 * DAY
    assert await answers(f) == before
    agg = await aredis.get(agg_key(H, f.days[0]))
    assert agg is not None
    assert await f.reports.rollup(H, f.days[0]) == json.loads(agg)  # a second roll-up
    assert await aredis.get(agg_key(H, f.days[0])) == agg  # keeps the stored aggregate
    assert (await f.archiver.sweep([H], 7, f.clock.now)).archived == 0  # idempotent
    f.store.archive = RecordArchive(aredis, None)  # a process without the data folder
    assert (await f.reports.report(H, FIRST, FIRST + timedelta(days=DAYS - 1))) \
        == before["report"]  # reports need only the stored aggregates


async def test_a_crash_between_writing_and_removing_is_completed_by_the_next_run(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    f = await build(aredis, halls, tmp_path)
    before = await answers(f)
    day = f.days[0]
    written = await f.archiver.write(H, day)  # ... and the process dies here
    assert written is not None
    first = (tmp_path / "archive" / H / f"{day}.records.jsonl.gz").read_bytes()
    assert await answers(f) == before  # still read from Redis
    assert (await f.archiver.sweep([H], 7, f.clock.now)).archived == DAYS
    assert (tmp_path / "archive" / H / f"{day}.records.jsonl.gz").read_bytes() == first
    assert await aredis.exists(HallKeys(H).day_tickets(day)) == 0
    assert await answers(f) == before


async def test_a_late_change_to_a_record_aborts_the_removal(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    f = await build(aredis, halls, tmp_path)
    day, changed = f.days[1], f.ids[1][-1]
    keys = HallKeys(H)
    written = await f.archiver.write(H, day)
    assert written is not None
    # meanwhile a commit changes a record of the day (a new version of the ticket)
    ver = await aredis.hget(keys.ticket(changed), "ver")
    await aredis.hset(keys.ticket(changed), "ver", int(ver or 0) + 1)
    assert not await f.archiver.remove(H, day, written)
    assert await aredis.exists(keys.day_tickets(day), keys.ticket(changed)) == 2
    assert await aredis.exists(records_index_key(H, day)) == 0
    assert await f.archiver.archive_day(H, day)  # the next run moves it, with the change
    archived = await f.store.archive.read_day(H, day)
    assert archived is not None
    line = archived.ticket(changed)
    assert line is not None and line.fields["ver"] == str(int(ver or 0) + 1)


async def test_a_ticket_issued_to_an_archived_day_joins_its_file(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    f = await build(aredis, halls, tmp_path)
    assert (await f.archiver.sweep([H], 7, f.clock.now)).archived == DAYS
    day, now = f.days[0], f.clock.now
    ttl = await aredis.pttl(records_index_key(H, day))
    # a process whose clock is far behind issues a ticket on the archived day
    f.clock.now = datetime.strptime(f"{day} 16", "%Y%m%d %H").replace(
        tzinfo=f.store.halls[H].tz).timestamp()
    late, _ = await f.store.issue(H, "CM-ZM", Channel.KIOSK)
    f.clock.now = now
    assert (await f.archiver.sweep([H], 7, f.clock.now)).archived == 1
    archived = await f.store.archive.read_day(H, day)
    assert archived is not None
    assert [t.id for t in archived.tickets] == [*f.ids[0], late.id]  # none lost
    assert (await f.store.ticket(H, late.id)).id == late.id
    assert (await f.store.ticket(H, f.ids[0][0])).id == f.ids[0][0]
    assert abs(await aredis.pttl(records_index_key(H, day)) - ttl) < 60_000  # same expiry
    assert await aredis.exists(HallKeys(H).day_tickets(day), HallKeys(H).ticket(late.id)) == 0


async def test_archived_files_go_after_record_retention(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path, redis_url: str) -> None:
    # 31 days: day k's records (and index) expire at the local midnight starting real
    # today + k + 2
    f = await build(aredis, halls, tmp_path, retention_days=31)
    assert (await f.archiver.sweep([H], 7, f.clock.now)).archived == DAYS
    files = sorted((tmp_path / "archive" / H).glob("*.records.jsonl.gz"))
    assert len(files) == DAYS
    assert await f.archiver.prune(H, f.clock.now) == 0  # within retention: kept
    sync = redis.Redis.from_url(redis_url)
    move_expiry_clock(sync, 3 * DAY)  # Redis: real today + 3: days 1 and 2 expired
    sync.close()
    f.clock.now += 17 * DAY  # the hall: day 3 is the last whose records may have expired
    assert await f.archiver.prune(H, f.clock.now) == 2
    left = sorted(p.name for p in (tmp_path / "archive" / H).glob("*.records.jsonl.gz"))
    assert left == [f"{d}.records.jsonl.gz" for d in f.days[2:]]
    assert await aredis.exists(*[records_index_key(H, d) for d in f.days[2:]]) == DAYS - 2


async def test_the_daily_sweep_in_a_real_worker_archives_records(
        aredis: Redis, halls: dict[str, HallConfig], tmp_path: Path, redis_url: str) -> None:
    f = await build(aredis, halls, tmp_path)
    before = await answers(f)
    scheduler = RollupScheduler(aredis, halls, f.clock, redis_url)
    await scheduler.tick()
    worker = await asyncio.to_thread(WorkerProcess(redis_url, tmp_path).start)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not await aredis.exists(
                records_index_key(H, f.days[-1])):
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
    assert await aredis.exists(*[records_index_key(H, d) for d in f.days]) == DAYS
    assert await aredis.exists(*[HallKeys(H).day_tickets(d) for d in f.days]) == 0
    assert await answers(f) == before
    trail = AuditTrail(aredis, {h: c.tz for h, c in halls.items()}, f.clock, data_dir=tmp_path)
    recorded = [line for d in await trail.days(DEPLOYMENT)
                for line in await trail.read_day(DEPLOYMENT, d)]
    assert any('"action":"records.archive"' in line and f'"archived":{DAYS}' in line
               for line in recorded), recorded  # the move is in the deployment's trail
