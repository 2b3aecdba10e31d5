"""The nightly roll-up through a real RQ worker process (``hall worker``) on real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import date

import pytest

from tests.support import ROOT
from ticketing import model
from ticketing.model import Channel
from ticketing.report_store import ReportStore
from ticketing.rollup import RollupScheduler, due_days

# the async fixtures (aredis, store) live on the session loop; so must the tests
pytestmark = pytest.mark.asyncio(loop_scope="session")
NINE = 1_794_963_600.0  # 2026-11-18 09:00 Asia/Shanghai


async def test_scheduler_enqueues_after_closing_and_worker_rolls_up(store, aredis, clock,
                                                                    redis_url, halls):
    clock.now = NINE
    for i in range(4):
        clock.now = NINE + 60 * i
        await store.issue("district", "QY-KB", Channel.KIOSK)
    await store.change_window("district", 1, lambda w, now: model.login(w, "S01", now))
    clock.now = NINE + 600
    await store.call_next("district", 1)  # A001 waited 600 s
    await store.start("district", 1)
    clock.now = NINE + 900
    await store.finish("district", 1)  # served 300 s
    scheduler = RollupScheduler(aredis, halls, clock, redis_url)
    assert await scheduler.tick() == []  # the hall is still open
    clock.now = NINE + 9 * 3600  # 18:00, after the 17:30 close
    assert await due_days(aredis, halls["district"], clock.now) == ["20261118"]
    worker = subprocess.Popen([sys.executable, "-m", "hall.cli", "worker"], cwd=ROOT,
                              env={**os.environ, "REDIS_URL": redis_url},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert await scheduler.tick() == [("district", "20261118")]
        assert await scheduler.tick() == []  # claimed: never enqueued twice
        deadline = time.monotonic() + 30
        raw = None
        while time.monotonic() < deadline and raw is None:
            raw = await aredis.get("hall:{district}:agg:20261118")
            await asyncio.sleep(0.1)
        assert raw is not None, "the worker did not roll the day up"
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    total = json.loads(raw)["groups"]["all"][""]
    assert (total["issued"], total["served"], total["abandoned"]) == (4, 1, 3)
    assert await due_days(aredis, halls["district"], clock.now) == []
    # a ticket issued after the roll-up (extended hours) makes the day due again
    await store.issue("district", "QY-KB", Channel.KIOSK)
    assert await due_days(aredis, halls["district"], clock.now) == ["20261118"]
    day = date(2026, 11, 18)
    report = await ReportStore(aredis, store).report("district", day, day)
    assert (report["total"]["wait_mean_s"], report["total"]["service_mean_s"]) == (600.0, 300.0)


async def test_report_commands(store, aredis, clock, redis_url):
    clock.now = NINE
    await store.issue("district", "QY-KB", Channel.KIOSK)
    await store.issue("district", "SB-CB", Channel.KIOSK)
    env = {**os.environ, "REDIS_URL": redis_url}

    def hall(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hall.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    done = await asyncio.to_thread(hall, "report", "rollup", "--hall", "district",
                                   "--day", "2026-11-18")
    assert done.returncode == 0, done.stderr
    assert "issued 2" in done.stdout
    assert await aredis.exists("hall:{district}:agg:20261118")
    shown = await asyncio.to_thread(hall, "report", "show", "--hall", "district",
                                    "--from", "2026-11-18", "--csv")
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()
    assert rows[0].startswith("dimension,key,name,issued")
    assert rows[1].startswith("hall,,,2,0")
    bad = await asyncio.to_thread(hall, "report", "rollup", "--hall", "district",
                                  "--day", "18.11.2026")
    assert bad.returncode == 2 and "2026-11-18" in bad.stderr


async def test_scheduler_reads_settled_days_once_and_keeps_a_lost_job_due(
        store, aredis, clock, redis_url, halls):
    """A past day seen with no tickets, or rolled up, is not read again; a day whose job
    was lost (its worker killed: no aggregate) stays due and is queued again once its
    claim lapses, by this scheduler or by one of a process started later."""
    clock.now = NINE
    await store.issue("district", "QY-KB", Channel.KIOSK)
    scheduler = RollupScheduler(aredis, halls, clock, redis_url)
    assert await scheduler.tick() == []  # open: nothing due, the lookback days settled
    assert [d for h, d in scheduler.asked(clock.now) if h == "district"] == []
    clock.now = NINE + 86400 + 3600  # the next morning, open: the 18th is closed, not rolled
    assert await scheduler.tick() == [("district", "20261118")]
    assert await scheduler.tick() == []  # claimed
    assert ("district", "20261118") in scheduler.asked(clock.now)  # still read: not rolled
    await aredis.delete("hall:{district}:agg:20261118:queued:1")  # the claim lapsed
    assert await scheduler.tick() == [("district", "20261118")]
    await aredis.delete("hall:{district}:agg:20261118:queued:1")
    restarted = RollupScheduler(aredis, halls, clock, redis_url)
    assert ("district", "20261118") in await restarted.tick()
    await ReportStore(aredis, store).rollup("district", "20261118")
    assert await scheduler.tick() == []
    assert [d for h, d in scheduler.asked(clock.now) if h == "district"] == []
