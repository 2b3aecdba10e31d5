"""The archive's cost, for the audit trail and for the ticket records: Redis bytes per
hall-day before and after, disk bytes per ticket (gzip), and the archive step's CPU per
hall-day.

One command: ``.venv/bin/python benchmarks/bench_archive.py [--halls 30 --days 7]``.
Starts its own redis-server and writes a soak-like trail through the real ticket store
(village halls copied from the bundled template; each hall-day: the clerk's log-in and a
mistyped password, 12 tickets issued by the kiosk and called, started and finished by the
clerk, each action an entry with its caller and source address), measures the audit
lists (``MEMORY USAGE``), archives every day with ``AuditArchiver`` and measures the files
(bytes, and the blocks they take on this file system) and the index entries left. Then the
same for the ticket records: every third ticket rated (the pad), each hall-day rolled up,
the records and day keys measured, archived with ``RecordArchiver``, and read back.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis as AsyncRedis

from hall import audit_store
from hall.audit_archive import RECORDS_SUFFIX, SUFFIX
from hall.audit_archiver import AuditArchiver
from hall.audit_store import Acting, AuditTrail, archived_key, day_key
from hall.config import HallConfig, bundled_hall_files, load_halls
from hall.text import as_str
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.rating_store import RatingKeys, RatingStore
from ticketing.record_archive import RecordArchive, records_index_key
from ticketing.record_archiver import RecordArchiver
from ticketing.report_store import ReportStore, agg_key
from ticketing.store import TicketStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import FakeClock, RedisServer

ZONE = ZoneInfo("Asia/Shanghai")
TICKETS = 12


def acting(actor: str, role: str, path: str) -> Acting:
    return Acting(source="10.21.7.34", method="POST", path=path, named_actor=actor,
                  named_role=role)


async def write_trail(client: AsyncRedis, halls: list[str], days: int, clock: FakeClock,
                      store: TicketStore, trail: AuditTrail) -> list[str]:
    ratings = RatingStore(store)
    start = datetime(2026, 11, 2, 9, tzinfo=ZONE).timestamp()  # a Monday
    dates = []
    for d in range(days):
        for h in halls:
            clock.now = start + d * 86400
            clerk = f"{h}-V01"
            audit_store._current.set(acting(clerk, "clerk", "/api/login"))
            await trail.record(h, "login", target=clerk, result="refused:bad_credentials")
            await trail.record(h, "login", target=clerk)
            audit_store._current.set(acting(clerk, "clerk", f"/api/halls/{h}/windows/1/login"))
            await store.change_window(h, 1, lambda w, now: model.login(w, "V01", now))
            for t in range(TICKETS):
                clock.now = start + d * 86400 + 600 * t
                audit_store._current.set(acting("kiosk-1", "kiosk", f"/api/halls/{h}/tickets"))
                await store.issue(h, "CM-DB", Channel.KIOSK)
                audit_store._current.set(acting(clerk, "clerk", f"/api/halls/{h}/windows/1"))
                await store.call_next(h, 1)
                clock.advance(60)
                await store.start(h, 1)
                clock.advance(300)
                done = await store.finish(h, 1)
                if t % 3 == 0:
                    audit_store._current.set(acting("pad-1", "pad", f"/api/halls/{h}/windows/1"))
                    await ratings.rate(h, done, "satisfied", "", "pad")
        dates.append(trail.day(halls[0], start + d * 86400))
    audit_store._current.set(None)
    return dates


async def memory(client: AsyncRedis, keys: list[str]) -> int:
    total = 0
    for k in keys:
        total += int(await client.memory_usage(k, samples=0) or 0)
    return total


def on_disk(root: Path, suffix: str = SUFFIX) -> tuple[int, int, int]:
    """(files, bytes, bytes of their blocks and of the hall folders) of one kind under
    ``root``."""
    files = size = blocks = 0
    for folder, _, names in os.walk(root):
        blocks += os.stat(folder).st_blocks * 512 if suffix == SUFFIX else 0
        for n in names:
            if not n.endswith(suffix):
                continue
            st = os.stat(Path(folder) / n)
            files, size, blocks = files + 1, size + st.st_size, blocks + st.st_blocks * 512
    return files, size, blocks


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--halls", type=int, default=30)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    server = RedisServer(tmp / "redis", databases=1, appendfsync="everysec").start()
    client = AsyncRedis.from_url(server.url)
    try:
        village = load_halls(bundled_hall_files())["village"]
        configs = {f"v{i:05d}": dataclasses.replace(village, id=f"v{i:05d}")
                   for i in range(1, args.halls + 1)}
        clock = FakeClock()
        trail = AuditTrail(client, {h: ZONE for h in configs}, clock, data_dir=tmp / "data")
        store = TicketStore(client, configs, clock)
        store.audit = trail
        store.hours_enforced = False
        halls = list(configs)
        dates = await write_trail(client, halls, args.days, clock, store, trail)
        hall_days = len(halls) * len(dates)
        tickets = hall_days * TICKETS
        lists = [day_key(h, d) for h in halls for d in dates]
        entries = sum([int(await client.llen(k)) for k in lists])
        before = await memory(client, lists)
        used_before = int((await client.info("memory"))["used_memory"])
        archiver = AuditArchiver(trail)
        cpu0, wall0 = time.process_time(), time.monotonic()
        moved = sum([await archiver.archive_hall(h, 1, clock() + 86400) for h in halls])
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        index = await memory(client, [archived_key(h, d) for h in halls for d in dates])
        used_after = int((await client.info("memory"))["used_memory"])
        files, size, blocks = on_disk(tmp / "data" / "archive")
        verified = [await trail.verify(h) for h in halls]
        assert moved == hall_days and all(b is None for _, b in verified), verified
        assert sum(c for c, _ in verified) == entries
        print(f"halls {len(halls)}, days {len(dates)}, hall-days {hall_days}, tickets {tickets}, "
              f"entries {entries} ({entries / tickets:.2f} a ticket)")
        print(f"Redis audit lists: {before} B = {before / hall_days:,.0f} B a hall-day, "
              f"{before / tickets:,.0f} B a ticket")
        print(f"Redis index entries after: {index} B = {index / hall_days:,.0f} B a hall-day")
        print(f"used_memory {used_before:,} -> {used_after:,} B "
              f"({(used_before - used_after) / hall_days:,.0f} B a hall-day freed)")
        print(f"files {files}: {size} B = {size / hall_days:,.0f} B a hall-day, "
              f"{size / tickets:,.0f} B a ticket (gzip); blocks on disk (with the hall folders) "
              f"{blocks} B = {blocks / hall_days:,.0f} B a hall-day")
        print(f"archive step: {cpu / hall_days * 1000:.2f} ms CPU (this process) a hall-day, "
              f"wall {wall:.1f} s; load {os.getloadavg()[0]:.1f}")
        print("every trail verifies across the boundary: "
              f"{sum(c for c, _ in verified)} entries")
        # the daily sweep once everything is archived: what each hall costs every day
        cpu0 = time.process_time()
        for _ in range(5):
            idle = await archiver.sweep(halls, 1, clock() + 86400)
        cpu = (time.process_time() - cpu0) / 5
        assert idle.archived == idle.pruned == 0
        print(f"a sweep with nothing to move, {len(dates)} archived days a hall: "
              f"{cpu / len(halls) * 1000:.2f} ms CPU a hall")
        await records(client, store, configs, dates, tmp / "data", clock() + 86400, tickets)
    finally:
        await client.aclose()
        server.stop()


async def records(client: AsyncRedis, store: TicketStore, configs: dict[str, HallConfig],
                  dates: list[str], root: Path, now: float, tickets: int) -> None:
    """The ticket records' archive: roll every hall-day up, measure, archive, read back."""
    reports = ReportStore(client, store)
    halls = list(configs)
    hall_days = len(halls) * len(dates)
    for h in halls:
        for d in dates:
            await reports.rollup(h, d)
    day_keys, record_keys, rating_keys = [], [], []
    for h in halls:
        k, rk = HallKeys(h), RatingKeys(h)
        for d in dates:
            ids = [as_str(i) for i in await client.zrange(k.day_tickets(d), 0, -1)]
            day_keys += [k.day_tickets(d), k.day_numbers(d), k.day_counters(d)]
            record_keys += [k.ticket(i) for i in ids]
            rating_keys += [rk.rating(i) for i in ids if await client.exists(rk.rating(i))]
    days_b, records_b = await memory(client, day_keys), await memory(client, record_keys)
    ratings_b = await memory(client, rating_keys)
    ratings_index = await memory(client, [RatingKeys(h).ratings for h in halls])
    agg_b = await memory(client, [agg_key(h, d) for h in halls for d in dates])
    used_before = int((await client.info("memory"))["used_memory"])
    archiver = RecordArchiver(client, root, configs)
    cpu0, wall0 = time.process_time(), time.monotonic()
    moved = sum([await archiver.archive_hall(h, 1, now) for h in halls])
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert moved == hall_days, moved
    index = await memory(client, [records_index_key(h, d) for h in halls for d in dates])
    used_after = int((await client.info("memory"))["used_memory"])
    files, size, blocks = on_disk(root / "archive", RECORDS_SUFFIX)
    store.archive = RecordArchive(client, root)
    cpu0 = time.process_time()
    read = [await store.archive.read_day(h, d) for h in halls for d in dates]
    read_cpu = time.process_time() - cpu0
    assert sum(len(r.tickets) for r in read if r is not None) == tickets
    # a ticket looked up by id among the hall's archived days (the ticket link): Redis CPU
    # of the one script that finds its day (an unknown id: every day's index is read)
    days_back = sorted(dates, reverse=True)
    stats0 = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    for _ in range(100):
        assert await store.archive.ticket(halls[0], "unknown-ticket-id", days_back) is None
    stats1 = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    find_us = (stats1.get("usec", 0) - stats0.get("usec", 0)) / max(
        1, stats1.get("calls", 0) - stats0.get("calls", 0))
    print("ticket records:")
    print(f"  Redis before: records {records_b / tickets:,.0f} B a ticket, day keys "
          f"{days_b / tickets:,.0f} B a ticket (together {(records_b + days_b) / tickets:,.0f}); "
          f"ratings (kept in Redis) {ratings_b / tickets:,.0f} B a ticket "
          f"({len(rating_keys)} rated) + ratings index {ratings_index / tickets:,.0f}; "
          f"aggregates (kept) {agg_b / hall_days:,.0f} B a hall-day")
    print(f"  Redis index entries after: {index} B = {index / hall_days:,.0f} B a hall-day, "
          f"{index / tickets:,.1f} B a ticket")
    print(f"  used_memory {used_before:,} -> {used_after:,} B "
          f"({(used_before - used_after) / tickets:,.0f} B a ticket freed)")
    print(f"  files {files}: {size} B = {size / hall_days:,.0f} B a hall-day, "
          f"{size / tickets:,.0f} B a ticket (gzip); blocks {blocks / hall_days:,.0f} B a "
          f"hall-day")
    print(f"  archive step: {cpu / hall_days * 1000:.2f} ms CPU a hall-day, wall {wall:.1f} s; "
          f"read back: {read_cpu / hall_days * 1000:.2f} ms CPU a hall-day; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  an unknown ticket id looked for in {len(dates)} archived days: "
          f"{find_us:.1f} µs of Redis CPU (the find script)")


if __name__ == "__main__":
    asyncio.run(main())
