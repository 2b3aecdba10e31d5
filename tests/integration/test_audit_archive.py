"""The audit archive on real Redis and a real data folder: closed hall-days move out of Redis
into files, the trail reads and verifies the same across the boundary, a changed or
deleted file is named, a crash between writing and removing loses and duplicates
nothing, a late entry is never lost, and files go after the trail's retention. The sweep
itself runs in a real ``hall worker``, queued by the roll-up scheduler."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from hall.audit_archive import Archived, pack
from hall.audit_archiver import AuditArchiver
from hall.audit_store import AuditTrail, archived_key, day_key
from hall.audit_trail import DEPLOYMENT, RETENTION_DAYS, line
from hall.config import HallConfig
from tests.support import ROOT, FakeClock, move_expiry_clock
from tests.voice_support import WorkerProcess
from ticketing.rollup import RollupScheduler

pytestmark = pytest.mark.asyncio(loop_scope="session")
ZONE = ZoneInfo("Asia/Shanghai")
H = "district"
DAY = 86400


async def ten_days(trail: AuditTrail, clock: FakeClock,
                   sync: redis.Redis | None = None) -> list[str]:
    """Two entries a day for ten days from 2026-11-08 10:00; the days, oldest first (with
    ``sync``, Redis's expiry clock moves with the test's)."""
    clock.now = datetime(2026, 11, 8, 10, tzinfo=ZONE).timestamp()
    days = []
    for i in range(10):
        await trail.record(H, "test.archive", target=f"t{i}")
        await trail.record(H, "test.archive", target=f"t{i}-2")
        days.append(trail.day(H, clock()))
        if i < 9:  # today is the tenth day
            clock.advance(DAY)
            if sync is not None:
                move_expiry_clock(sync, DAY)
    return days


@pytest.fixture
async def trail(aredis: AsyncRedis, clock: FakeClock, tmp_path: Path) -> AuditTrail:
    return AuditTrail(aredis, {H: ZONE}, clock, data_dir=tmp_path)


async def test_old_days_move_to_files_and_the_trail_reads_and_verifies_as_before(
        trail: AuditTrail, aredis: AsyncRedis, clock: FakeClock, tmp_path: Path) -> None:
    days = await ten_days(trail, clock)
    before = {d: await trail.read_day(H, d) for d in days}
    ttl_before = await aredis.pttl(day_key(H, days[0]))
    assert await AuditArchiver(trail).archive_hall(H, 7, clock()) == 3  # days 1-3 of 10
    for day in days[:3]:
        assert not await aredis.exists(day_key(H, day))
        index = Archived.parse((await aredis.get(archived_key(H, day))).decode())
        assert index.count == 2 and index.tail == before[day][-1].split(" ")[2]
        path = tmp_path / "archive" / H / f"{day}.audit.jsonl.gz"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert gzip.decompress(path.read_bytes()).decode().splitlines() == before[day]
    # the index entry goes when the list would have
    assert abs(await aredis.pttl(archived_key(H, days[0])) - ttl_before) < 60_000
    assert await aredis.exists(*[day_key(H, d) for d in days[3:]]) == 7
    assert {d: await trail.read_day(H, d) for d in days} == before
    assert await trail.verify(H) == (20, None)
    first = datetime.strptime(days[0], "%Y%m%d").date()
    last = datetime.strptime(days[4], "%Y%m%d").date()
    assert [s.entry.target for s in await trail.entries(H, first, last)] == [
        f"t{i}{s}" for i in range(5) for s in ("", "-2")]
    assert await AuditArchiver(trail).archive_hall(H, 7, clock()) == 0  # done: nothing left


async def test_an_altered_or_deleted_archived_file_is_named(
        trail: AuditTrail, clock: FakeClock, tmp_path: Path) -> None:
    days = await ten_days(trail, clock)
    await AuditArchiver(trail).archive_hall(H, 7, clock())
    path = tmp_path / "archive" / H / f"{days[1]}.audit.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress(lines.replace('"t1-2"', '"t9-9"').encode()))
    count, broken = await trail.verify(H)
    assert broken is not None and broken.day == days[1] and "altered" in broken.problem
    assert count == 2  # the first day is intact
    path.unlink()
    _, broken = await trail.verify(H)
    assert broken is not None and broken.day == days[1] and "deleted" in broken.problem


async def test_a_rebuilt_archived_day_breaks_the_chain_at_the_first_live_day(
        trail: AuditTrail, aredis: AsyncRedis, clock: FakeClock, tmp_path: Path) -> None:
    """A forger who rewrites the newest archived day consistently (entries re-chained, the
    index's digest updated) is still caught where the live trail links to it."""
    days = await ten_days(trail, clock)
    await AuditArchiver(trail).archive_hall(H, 7, clock())
    path = tmp_path / "archive" / H / f"{days[2]}.audit.jsonl.gz"
    old = gzip.decompress(path.read_bytes()).decode().splitlines()
    prev, forged = old[0].split(" ")[1], []
    for raw in old:
        seq, _, _, body = raw.split(" ", 3)
        forged.append(line(int(seq), prev, body.replace('"t2', '"x2')))
        prev = forged[-1].split(" ")[2]
    data = pack(forged)
    index = Archived.parse((await aredis.get(archived_key(H, days[2]))).decode())
    await aredis.set(archived_key(H, days[2]), Archived(
        index.count, hashlib.sha256(data).hexdigest(), prev).text(), keepttl=True)
    path.write_bytes(data)
    count, broken = await trail.verify(H)
    assert broken is not None and (broken.day, broken.seq) == (days[3], 1), broken
    assert "does not link" in broken.problem and count == 6


async def test_a_crash_between_writing_and_removing_is_completed_by_the_next_run(
        trail: AuditTrail, aredis: AsyncRedis, clock: FakeClock, tmp_path: Path) -> None:
    days = await ten_days(trail, clock)
    archiver = AuditArchiver(trail)
    written = await archiver.write(H, days[0])  # the file is written; then the crash
    assert written is not None
    path = tmp_path / "archive" / H / f"{days[0]}.audit.jsonl.gz"
    assert path.read_bytes() == written.data
    assert await aredis.llen(day_key(H, days[0])) == 2  # still in Redis, not indexed
    assert not await aredis.exists(archived_key(H, days[0]))
    assert await trail.verify(H) == (20, None)
    stale = path.with_name(f".{path.name}.crashed")  # a write that died before its rename
    stale.write_bytes(written.data[:10])
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert await archiver.archive_hall(H, 7, clock()) == 3
    assert path.read_bytes() == written.data  # the same file, written again
    await archiver.prune(H, clock())
    assert not stale.exists()
    assert len(await trail.read_day(H, days[0])) == 2  # nothing duplicated or lost
    assert await trail.verify(H) == (20, None)


async def test_an_entry_appended_while_a_day_is_archived_is_never_lost(
        trail: AuditTrail, aredis: AsyncRedis, clock: FakeClock) -> None:
    """The hall's newest day is eight days old (nothing since), and a process whose clock is
    far behind still appends to it: during the archive step, and after it."""
    clock.now = datetime(2026, 11, 10, 10, tzinfo=ZONE).timestamp()
    await trail.record(H, "test.archive", target="a")
    await trail.record(H, "test.archive", target="b")
    day = trail.day(H, clock())
    archiver = AuditArchiver(trail)
    written = await archiver.write(H, day)
    assert written is not None
    await trail.record(H, "test.archive", target="late")  # between write and removal
    assert not await archiver.remove(H, day, written)  # the list changed: nothing removed
    assert await aredis.llen(day_key(H, day)) == 3
    assert await trail.verify(H) == (3, None)
    later = clock() + 8 * DAY
    assert await archiver.archive_hall(H, 7, later) == 1
    assert [s.entry.target for s in await trail.entries(H, *[datetime(2026, 11, 10)] * 2)
            ] == ["a", "b", "late"]
    await trail.record(H, "test.archive", target="after")  # to the archived day itself
    assert await trail.verify(H) == (4, None)
    assert await archiver.archive_hall(H, 7, later) == 1
    assert not await aredis.exists(day_key(H, day))
    assert len(await trail.read_day(H, day)) == 4
    assert await trail.verify(H) == (4, None)


async def test_archived_files_go_after_the_trails_retention(
        trail: AuditTrail, redis_url: str, clock: FakeClock, tmp_path: Path) -> None:
    sync = redis.Redis.from_url(redis_url)
    days = await ten_days(trail, clock, sync)
    archiver = AuditArchiver(trail)
    await archiver.archive_hall(H, 7, clock())
    first = tmp_path / "archive" / H / f"{days[0]}.audit.jsonl.gz"

    def wait(seconds: float) -> None:
        clock.advance(seconds)
        move_expiry_clock(sync, seconds)

    # the first day's first entry was 10:00 nine days ago; its retention ends 400 days after
    wait((RETENTION_DAYS - 9) * DAY - 3600)
    assert await archiver.prune(H, clock()) == 0
    assert first.exists()
    assert await trail.verify(H) == (20, None)
    wait(DAY + 7200)  # past it (and the day after the boundary day): the file goes
    assert await archiver.prune(H, clock()) == 1
    assert not first.exists() and (
        tmp_path / "archive" / H / f"{days[1]}.audit.jsonl.gz").exists()
    assert await trail.verify(H) == (16, None)  # the second day's index expired too
    sync.close()


async def test_the_scheduler_queues_the_daily_sweep_and_a_real_worker_archives(
        aredis: AsyncRedis, halls: dict[str, HallConfig], clock: FakeClock, redis_url: str,
        tmp_path: Path) -> None:
    trail = AuditTrail(aredis, {h: c.tz for h, c in halls.items()}, clock, data_dir=tmp_path)
    days = await ten_days(trail, clock)
    scheduler = RollupScheduler(aredis, halls, clock, redis_url)
    await scheduler.tick()
    await scheduler.tick()  # claimed: queued once a day
    env = {**os.environ, "REDIS_URL": redis_url, "HALL_DATA": str(tmp_path)}
    worker = await asyncio.to_thread(WorkerProcess(redis_url, tmp_path).start)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not await aredis.exists(
                archived_key(H, days[2])):
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
    assert await aredis.exists(*[day_key(H, d) for d in days[:3]]) == 0
    recorded = [line for d in await trail.days(DEPLOYMENT)
                for line in await trail.read_day(DEPLOYMENT, d)]
    assert any('"action":"audit.archive"' in line and '"archived":3' in line
               for line in recorded), recorded  # the sweep is in the deployment's trail
    assert await aredis.exists(*[day_key(H, d) for d in days[3:]]) == 7
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hall.cli", "audit", "verify", "--hall", H],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{H}: OK, 20 entries" in done.stdout, done.stdout
    (tmp_path / "archive" / H / f"{days[0]}.audit.jsonl.gz").unlink()
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hall.cli", "audit", "verify", "--hall", H],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "its archived file was deleted" in done.stdout


async def test_hall_audit_archive_moves_old_days_now(
        aredis: AsyncRedis, clock: FakeClock, redis_url: str, tmp_path: Path) -> None:
    trail = AuditTrail(aredis, {H: ZONE}, clock, data_dir=tmp_path)
    clock.now = time.time() - 20 * DAY
    await trail.record(H, "test.archive", target="old")
    old = trail.day(H, clock())
    clock.now = time.time()
    await trail.record(H, "test.archive", target="new")
    env = {**os.environ, "REDIS_URL": redis_url, "HALL_DATA": str(tmp_path)}

    def hall(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hall.cli", "audit", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    done = await asyncio.to_thread(hall, "archive", "--hall", H)
    assert done.returncode == 0 and "archived 1 hall-days" in done.stdout, done.stderr
    assert not await aredis.exists(day_key(H, old))
    assert (tmp_path / "archive" / H / f"{old}.audit.jsonl.gz").exists()
    done = await asyncio.to_thread(hall, "verify", "--hall", H)
    assert f"{H}: OK, 2 entries" in done.stdout, done.stdout
