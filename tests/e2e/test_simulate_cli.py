"""``hall simulate`` as an operator runs it: tables on stdout, CSV and SVG files on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_simulate_compares_policies_and_writes_the_day(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hall.cli", "simulate", "--hall", "district", "--seeds", "2",
         "--policy", "off,predictive", "--surge", "10:00-10:30:1.5:SB-YLJ,SB-CB",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    table = out.split("\n\n")[-1]
    assert "policy" in table and "\noff " in table and "\npredictive " in table
    assert "window-hours" in out and "开放12号潮汐窗口" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"district-{p}-seed1{suffix}" for p in ("off", "predictive")
                           for suffix in ("-timeline.csv", "-tickets.csv", ".svg"))
    assert (tmp_path / "district-predictive-seed1.svg").read_text().startswith("<svg")


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    for args in (["--policy", "magic"], ["--hall", "atlantis"], ["--surge", "ten-eleven"]):
        run = subprocess.run([sys.executable, "-m", "hall.cli", "simulate", *args,
                              "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode != 0 and "Traceback" not in run.stderr, (args, run.stderr)


def test_plan_for_tomorrow_from_the_halls_history(redis_url: str, tmp_path: Path) -> None:
    """Three past Wednesdays of the town hall in Redis; the plan for the next Wednesday is
    forecast from them (same weekday) and checked on simulated days."""
    import asyncio
    import json
    from datetime import datetime, time

    from redis.asyncio import Redis

    from hall.config import load_hall
    from tests.support import FakeClock
    from ticketing.model import Channel
    from ticketing.store import TicketStore

    town = load_hall(ROOT / "hall" / "halls" / "town.toml")
    clock = FakeClock()

    async def history() -> None:
        client = Redis.from_url(redis_url)
        store = TicketStore(client, {"town": town}, clock)
        for day in ("2026-11-04", "2026-11-11", "2026-11-18"):
            for hh, mm in ((9, 0), (9, 5), (9, 10), (9, 20), (15, 0)):
                clock.now = datetime.combine(datetime.fromisoformat(day).date(),
                                             time(hh, mm), tzinfo=town.tz).timestamp()
                await store.issue("town", town.matters[0].code, Channel.KIOSK)
        await client.aclose()

    asyncio.run(history())
    env = {**__import__("os").environ, "REDIS_URL": redis_url,
           "HALL_FILES": str(ROOT / "hall" / "halls" / "town.toml")}
    run = subprocess.run(
        [sys.executable, "-m", "hall.cli", "plan", "--hall", "town", "--day", "2026-11-25",
         "--seeds", "3", "--check-seeds", "3", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["day"] == "2026-11-25" and "records" in plan["forecast"]
    slots = {s["start"]: s for s in plan["slots"]}
    assert next(iter(slots)) == "08:30" and "12:00" not in slots and "14:00" in slots
    # 4 tickets 09:00-09:30 and 1 at 15:00 a Wednesday: 4 forecast for 09:00-09:30
    assert slots["09:00"]["expected_tickets"] == 4.0 and slots["15:00"]["expected_tickets"] == 1.0
    assert all(len(s["windows"]) >= 1 for s in plan["slots"])
    assert {"p90_min", "hit_rate", "window_hours"} <= set(plan["planned"])
    assert plan["planned"]["window_hours"] <= plan["today"]["window_hours"]
    bad = subprocess.run([sys.executable, "-m", "hall.cli", "plan", "--day", "tomorrow"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
