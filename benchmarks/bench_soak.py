"""The soak: a simulated week of many halls through the live server; Redis memory per day.

    .venv/bin/python benchmarks/bench_soak.py                 # 30 halls, 12 tickets a day, 7 days
    .venv/bin/python benchmarks/bench_soak.py --halls 200 --days 10

Starts Debian's redis-server, one app process (``create_app`` under uvicorn, as
``hall serve`` builds it, but with the hall clock read from a file the driver writes:
days pass in seconds) and a real ``hall worker`` for the roll-up jobs. Halls are
generated from a copy of the village template with ``record_retention_days = 1`` and
``stream_retention_days = 1``, so retention applies from the second day.

Each simulated day: every hall gets ``--tickets`` tickets over its opening hours, each
issued at the kiosk, called, started and finished at window 1 over HTTP; after closing,
the roll-up job (``ticketing.rollup``, the retention step) runs for every hall in the
worker; then Redis is measured: used memory, keys, stream entries, records, aggregates.

Redis expires keys on its own clock, and the simulated days lie in the past, so a day's
records go as soon as its roll-up sets their expiry: the curve shows the steady state a
hall reaches once retention applies. The day's growth before the roll-up gives the bytes
per ticket (records, day keys, stream entries, ratings index) and the aggregates' growth
the bytes kept for good per hall-day.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from bench_core import free_port, stop_processes, wait_until
from bench_province import Pool, say
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from hall.auth.principal import Principal
from hall.auth.tokens import USER
from hall.config.province import template_path
from hall.redis_server import redis_server_binary
from ticketing.rollup import enqueue_rollup

ROOT = Path(__file__).resolve().parent.parent
ZONE = "Asia/Shanghai"
FIRST_DAY = datetime(2024, 3, 4)  # a Monday, in the past: expiry is immediate once set
PASSWORD = "benchmark-password-9"


class FileClock:
    """The hall clock of the served app: a float the driver writes into a small file."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "r+b")  # noqa: SIM115
        self.map = mmap.mmap(self.file.fileno(), 8)

    def __call__(self) -> float:
        return float(struct.unpack("d", self.map[:8])[0])

    def set(self, now: float) -> None:
        self.map[:8] = struct.pack("d", now)


def serve(port: int, clock_file: str) -> None:
    """The app process: ``create_app`` with the file clock, under uvicorn."""
    import uvicorn

    from hall.app import create_app
    from hall.config import load_configured_halls
    from hall.settings import Settings

    settings = Settings.from_env()
    app = create_app(settings, halls=load_configured_halls(settings),
                     clock=FileClock(Path(clock_file)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_per_message_deflate=False)


def halls_file(folder: Path, count: int) -> Path:
    text = template_path("village", folder).read_text(encoding="utf-8")
    text = text.replace("[hall.hours]", "[rules]\nrecord_retention_days = 1\n"
                        "stream_retention_days = 1\n\n[hall.hours]", 1)
    (folder / "soak-village.toml").write_text(text, encoding="utf-8")
    province = folder / "province.toml"
    province.write_text('[province]\n[[province.halls]]\ntemplate = "soak-village.toml"\n'
                        f'count = {count}\nprefix = "s"\n', encoding="utf-8")
    return province


def at(day: int, hour: float) -> float:
    from zoneinfo import ZoneInfo

    d = FIRST_DAY + timedelta(days=day, hours=hour)
    return d.replace(tzinfo=ZoneInfo(ZONE)).timestamp()


def measure(client: redis.Redis, halls: list[str]) -> dict[str, Any]:
    info = client.info("memory")
    pipe = client.pipeline(transaction=False)
    for h in halls:
        pipe.xlen(f"hall:{{{h}}}:events")
    streams = sum(pipe.execute())
    kinds: dict[str, int] = {}
    sizes: dict[str, int] = {}
    keys = list(client.scan_iter(count=5000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    for key, size in zip(keys, pipe.execute(), strict=True):
        parts = key.decode().split(":")
        kind = parts[2] if parts[0] == "hall" and len(parts) > 2 else ":".join(parts[:2])
        kinds[kind] = kinds.get(kind, 0) + 1
        sizes[kind] = sizes.get(kind, 0) + int(size or 0)
    return {"bytes_by_kind": dict(sorted(sizes.items(), key=lambda kv: -kv[1])),
            "used_memory": info["used_memory"],
            "dataset": client.memory_stats()["dataset.bytes"],
            "keys": client.dbsize(), "stream_entries": streams,
            "ticket_records": kinds.get("t", 0), "aggregates": kinds.get("agg", 0),
            "day_keys": kinds.get("day", 0)}


async def drive(port: int, url: str, clock: FileClock, halls: list[str], tickets: int,
                days: int) -> list[dict[str, Any]]:
    client = AsyncRedis.from_url(url)
    auth = AuthStore(client)
    await auth.add_user(f"{halls[0]}-V01", PASSWORD, Role.CLERK, (halls[0],), "V01")
    model = {k.decode(): v.decode() for k, v in
             (await client.hgetall(f"{USER}{halls[0]}-V01")).items()}
    kiosks, clerks = {}, {}
    for h in halls:
        kiosks[h] = await auth.add_device(Role.KIOSK, h, f"{h}-kiosk")
        name = f"{h}-V01"
        principal = Principal(name, Role.CLERK, (h,), "V01", name)
        await client.hset(f"{USER}{name}", mapping={**model, "principal": principal.to_json()})
        clerks[h] = await auth.tokens.open_session(name, model.get("gen", "0"), principal)
    await client.aclose()
    pool = await Pool().open([port], 32)
    sync = redis.Redis.from_url(url)
    curve = []

    async def serve_one(h: str) -> None:
        status, _ = await pool.request("POST", f"/api/halls/{h}/tickets", kiosks[h],
                                       {"matter": "CM-ZM"})
        assert status == 201, status
        for step in ("call-next", "start", "finish"):
            status, body = await pool.request("POST", f"/api/halls/{h}/windows/1/{step}",
                                              clerks[h])
            assert status == 200, (step, status, body)

    for day in range(days):
        clock.set(at(day, 8.5))
        await asyncio.gather(*(pool.request("POST", f"/api/halls/{h}/windows/1/login",
                                            clerks[h]) for h in halls))
        started = time.monotonic()
        for n in range(tickets):
            clock.set(at(day, 9 + 8 * n / tickets))
            await asyncio.gather(*(serve_one(h) for h in halls))
        served = time.monotonic() - started
        await asyncio.gather(*(pool.request("POST", f"/api/halls/{h}/windows/1/logout",
                                            clerks[h]) for h in halls))
        before = measure(sync, halls)
        clock.set(at(day, 18))
        stamp = (FIRST_DAY + timedelta(days=day)).strftime("%Y%m%d")
        for h in halls:
            await asyncio.to_thread(enqueue_rollup, url, h, stamp)
        wait_until(lambda s=stamp: all(sync.exists(f"hall:{{{h}}}:agg:{s}") for h in halls),
                   "the roll-ups", timeout=300)
        after = measure(sync, halls)
        row = {"day": day + 1, "tickets": tickets * len(halls),
               "requests_per_s": round(4 * tickets * len(halls) / served, 1),
               "before_rollup": before, "after_rollup": after}
        say(f"day {day + 1}: used {after['used_memory'] / 2**20:.2f} MiB after the roll-up, "
            f"{after['stream_entries']} stream entries, {after['ticket_records']} records")
        curve.append(row)
        clock.set(at(day + 1, 0.5))
    pool.close()
    return curve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--halls", type=int, default=30)
    parser.add_argument("--tickets", type=int, default=12, help="tickets per hall per day")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "CLOCK_FILE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        folder = Path(tmp)
        province = halls_file(folder, args.halls)
        halls = [f"s{n:05d}" for n in range(1, args.halls + 1)]
        clock_file = folder / "clock"
        clock_file.write_bytes(struct.pack("d", at(0, 0.5)))
        clock = FileClock(clock_file)
        redis_port, port = free_port(), free_port()
        url = f"redis://127.0.0.1:{redis_port}/0"
        (folder / "redis").mkdir()
        try:
            processes.append(subprocess.Popen(
                [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1",
                 "--dir", str(folder / "redis"), "--appendonly", "yes", "--appendfsync",
                 "everysec", "--save", "", "--logfile", str(folder / "redis" / "log")]))
            wait_until(redis.Redis.from_url(url).ping, "redis-server")
            env = {**os.environ, "REDIS_URL": url, "HALL_FILES": str(province),
                   "HALL_ALWAYS_OPEN": "1", "HALL_DATA": str(folder / "var"),
                   "PYTHONPATH": str(ROOT / "benchmarks")}
            log = open(folder / "app.log", "ab")  # noqa: SIM115
            processes.append(subprocess.Popen(
                [sys.executable, __file__, "--serve", str(port), str(clock_file)],
                env=env, cwd=ROOT, stdout=log, stderr=log))
            processes.append(subprocess.Popen([sys.executable, "-m", "hall.cli", "worker"],
                                              env=env, cwd=ROOT, stdout=log, stderr=log))
            wait_until(lambda: redis.Redis.from_url(url).ping() and _ready(port), "the app",
                       timeout=60)
            empty = measure(redis.Redis.from_url(url), halls)
            curve = asyncio.run(drive(port, url, clock, halls, args.tickets, args.days))
        finally:
            stop_processes(processes)
    print(json.dumps(summary(empty, curve, args), indent=2))
    return 0


def _ready(port: int) -> bool:
    from bench_province import http_get

    return http_get(port, "/readyz")[0] == 200


def summary(empty: dict[str, Any], curve: list[dict[str, Any]],
            args: argparse.Namespace) -> dict[str, Any]:
    tickets = args.halls * args.tickets
    day_growth = [c["before_rollup"]["used_memory"] - (curve[i - 1]["after_rollup"]["used_memory"]
                                                       if i else empty["used_memory"])
                  for i, c in enumerate(curve)]
    kept = [c["after_rollup"]["used_memory"] for c in curve]
    first, last = curve[1]["after_rollup"]["bytes_by_kind"], curve[-1]["after_rollup"][
        "bytes_by_kind"]
    growth = {k: round((last.get(k, 0) - first.get(k, 0)) / max(1, len(curve) - 2) / args.halls)
              for k in {*first, *last}}
    # what a day adds while it runs, per ticket (before its roll-up, over the day before's)
    kinds = {k for c in curve for k in c["before_rollup"]["bytes_by_kind"]}
    per_ticket = {k: round(sum(c["before_rollup"]["bytes_by_kind"].get(k, 0)
                               - p["after_rollup"]["bytes_by_kind"].get(k, 0)
                               for p, c in itertools.pairwise(curve))
                           / max(1, len(curve) - 1) / tickets) for k in kinds}
    per_ticket = dict(sorted(per_ticket.items(), key=lambda kv: -kv[1]))
    return {
        "halls": args.halls, "tickets_per_hall_day": args.tickets, "days": args.days,
        "empty_used_memory": empty["used_memory"],
        "bytes_per_ticket_live": round(sum(day_growth[1:]) / max(1, len(day_growth) - 1)
                                       / tickets),
        "used_memory_after_each_rollup_mib": [round(k / 2**20, 3) for k in kept],
        "kept_for_good_per_hall_day_bytes": round((kept[-1] - kept[1]) / max(1, len(kept) - 2)
                                                  / args.halls) if len(kept) > 2 else None,
        "growth_per_hall_day_after_rollup_bytes_by_kind": dict(
            sorted(growth.items(), key=lambda kv: -kv[1])),
        "live_day_bytes_per_ticket_by_kind": per_ticket,
        "curve": curve,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    raise SystemExit(main())
