"""The soak: a simulated week of many halls through the live server; Redis memory per day.

    .venv/bin/python benchmarks/bench_soak.py                 # 30 halls, 12 tickets a day, 7 days
    .venv/bin/python benchmarks/bench_soak.py --halls 200 --days 10

Starts a redis-server (``hall.redis_server.redis_server_binary``), one app process
(``create_app`` under uvicorn, as ``hall serve`` builds it, but with the hall clock read
from a file the driver writes: days pass in seconds) and a real ``hall worker`` for the
roll-up and speech jobs. Halls
are generated from a copy of the village template with ``record_retention_days = 1`` and
``stream_retention_days = 1``, so retention applies from the second day.

Each simulated day: every clerk opens a session in the morning; every hall gets
``--tickets`` tickets over its opening hours, each issued at the kiosk, called, started and
finished at window 1 over HTTP (the worker speaks each call into the audio cache); after
closing, the roll-up job (``ticketing.rollup``, the retention step) runs for every hall in
the worker; then Redis is measured key family by key family (count and bytes), with the
audio folder on disk.

Two clocks. What the app keeps by the hall's clock (ticket records, day keys and ratings
expire at ``EXPIREAT`` day end + ``record_retention_days``; the stream is trimmed by the
events' own time) follows the simulated days, which lie in the past: Redis drops a record
as soon as its roll-up sets its expiry. What expires on Redis's real clock (``EXPIRE``:
resend guards, RQ job results, sessions, roll-up claims, "said" marks of the voice, the
audit trail's day lists) would outlive a soak of minutes. So the benchmark (and only the
benchmark) moves Redis's clock with the simulated one: at each measurement it takes the
simulated time passed since the last one, less the real time passed, off every relative
TTL (``PTTL``, then ``PEXPIRE`` or ``UNLINK``, in one script per 1,000 keys:
``tests.support.move_expiry_clock``). Leases of live processes (RQ workers, tide leaders)
are left alone: they are renewed on the real clock. A key written since the last move is
moved a little too little (by at most a simulated half day), never too much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mmap
import os
import re
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
from rq import Queue
from rq.registry import FinishedJobRegistry

from hall.auth import AuthStore, Role
from hall.auth.principal import Principal
from hall.auth.tokens import user_key
from hall.config.province import template_path
from hall.jobs import QUEUES, REPORTS_QUEUE, VOICE_QUEUE
from hall.redis_server import redis_server_binary
from ticketing.rollup import enqueue_rollup

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support import move_expiry_clock  # noqa: E402

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


# What keeps each key family bounded, and whether it must be flat once retention applies
# ("flat") or grows by design for a stated period ("kept"). First match wins; a family no
# pattern names is "flat" (a per-hall or per-deployment fixture).
RULES: tuple[tuple[str, str, str], ...] = (
    (r"hall:\{h\}:audit:\*$", "kept", "audit day list: EXPIRE RETENTION_DAYS (400 d) from the "
     "day's first entry"),
    (r"hall:\{h\}:audit:days$", "kept", "audit day index: a member a day (~20 B)"),
    (r"hall:\{h\}:agg:\*:queued:\*$", "flat", "roll-up claim: EXPIRE CLAIM_SECONDS (1 h)"),
    (r"hall:\{h\}:agg:", "kept", "daily aggregate: kept for good"),
    (r"hall:\{h\}:events$", "flat", "stream: trimmed by the events' time "
     "(stream_retention_days)"),
    (r"hall:\{h\}:(t|day|rating|ratings)(:|$)", "flat", "ticket records, day keys, ratings: "
     "EXPIREAT day end + record_retention_days"),
    (r"hall:\{h\}:step:", "flat", "resend guard: EXPIRE DONE_SECONDS (10 min)"),
    (r"hall:\{h\}:voice:said:", "flat", "voice 'said' mark: EXPIRE 24 h"),
    (r"rq:(job|results):", "flat", "RQ job and result: result_ttl (roll-up and voice 10 min)"),
    (r"rq:(finished|failed|wip|started|deferred|scheduled|canceled):", "flat",
     "RQ registry: scored by the worker's real clock, cleaned every 10 min of real time"),
    (r"account:\{a\}:(session|sessions):", "flat", "session: EXPIRE session_hours + 60 s"),
    (r"account:\{a\}:fail:", "flat", "login throttle: EXPIRE lock_seconds + 1 h"),
)
# renewed by a live process on the real clock: not moved with the simulated clock
LEASES = re.compile(rb"^rq:worker:|^rq:scheduler|:tide:leader$|^tide:")

def family(key: bytes) -> str:
    """The key's family: the hall tag becomes {h}; every part holding a digit, or as long as
    an id, becomes *."""
    text = re.sub(r"^account:\{a:[^}]*\}", "account:{a}", key.decode(errors="replace"))
    parts = text.split(":")
    if parts[0] == "hall" and len(parts) > 1:
        parts[1] = "{h}"
    return ":".join("*" if len(part) >= 16 or any(c.isdigit() for c in part) else part
                    for part in parts)


def rule(name: str) -> tuple[str, str]:
    for pattern, kind, why in RULES:
        if re.match(pattern, name):
            return kind, why
    return "flat", "per hall or per deployment: fixed"


def measure(client: redis.Redis, halls: list[str], audio: Path) -> dict[str, Any]:
    info = client.info("memory")
    pipe = client.pipeline(transaction=False)
    for h in halls:
        pipe.xlen(f"hall:{{{h}}}:events")
    streams = sum(pipe.execute())
    families: dict[str, list[int]] = {}
    keys = list(client.scan_iter(count=5000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    for key, size in zip(keys, pipe.execute(), strict=True):
        entry = families.setdefault(family(key), [0, 0])
        entry[0] += 1
        entry[1] += int(size or 0)
    files = [f.stat().st_size for f in audio.glob("*.wav")] if audio.is_dir() else []
    return {"families": dict(sorted(families.items(), key=lambda kv: -kv[1][1])),
            "used_memory": info["used_memory"],
            "dataset": client.memory_stats()["dataset.bytes"],
            "keys": client.dbsize(), "stream_entries": streams,
            "ticket_records": families.get("hall:{h}:t:*", [0])[0],
            "audio_files": len(files), "audio_bytes": sum(files)}


class RedisClock:
    """Moves Redis's expiry clock with the simulated one (``move_expiry_clock``)."""

    def __init__(self, client: redis.Redis, sim: float) -> None:
        self.client, self.sim, self.real = client, sim, time.time()
        self.moved = 0.0

    def to(self, sim: float) -> tuple[int, int]:
        real = time.time()
        step = (sim - self.sim) - (real - self.real)
        self.sim, self.real = sim, real
        self.moved += max(0.0, step)
        gone = move_expiry_clock(self.client, step, skip=LEASES)
        # RQ's finished-job registries are scored on the worker's clock and cleaned by its
        # maintenance (every 10 minutes): as it would have by now on the moved clock
        for name in QUEUES:
            FinishedJobRegistry(name, connection=self.client).cleanup(real + self.moved)
        return gone


async def drive(port: int, url: str, clock: FileClock, halls: list[str], tickets: int,
                days: int, audio: Path) -> list[dict[str, Any]]:
    client = AsyncRedis.from_url(url)
    # a clerk opens a session each morning; sessions are timed on the real clock
    # (``create_app``'s ``auth_clock``), their keys expire with Redis's moved one
    auth = AuthStore(client)
    await auth.add_user(f"{halls[0]}-V01", PASSWORD, Role.CLERK, (halls[0],), "V01")
    model = {k.decode(): v.decode() for k, v in
             (await client.hgetall(user_key(f"{halls[0]}-V01"))).items()}
    kiosks, principals = {}, {}
    for h in halls:
        kiosks[h] = await auth.add_device(Role.KIOSK, h, f"{h}-kiosk")
        name = f"{h}-V01"
        principals[h] = Principal(name, Role.CLERK, (h,), "V01", name)
        await client.hset(user_key(name),
                          mapping={**model, "principal": principals[h].to_json()})
    pool = await Pool().open([port], 32)
    sync = redis.Redis.from_url(url)
    moving = RedisClock(sync, clock())
    curve = []

    async def serve_one(h: str, clerk: str) -> None:
        status, _ = await pool.request("POST", f"/api/halls/{h}/tickets", kiosks[h],
                                       {"matter": "CM-ZM"})
        assert status == 201, status
        for step in ("call-next", "start", "finish"):
            status, body = await pool.request("POST", f"/api/halls/{h}/windows/1/{step}",
                                              clerk)
            assert status == 200, (step, status, body)

    for day in range(days):
        clock.set(at(day, 8.5))
        moving.to(clock())
        clerks = {h: await auth.tokens.open_session(f"{h}-V01", model.get("gen", "0"),
                                                    principals[h]) for h in halls}
        await asyncio.gather(*(pool.request("POST", f"/api/halls/{h}/windows/1/login",
                                            clerks[h]) for h in halls))
        # and one mistyped password a hall (the login throttle's counters)
        for h in halls:
            status, _ = await pool.request("POST", "/api/login", "", {
                "username": f"{h}-V01", "password": "not-the-password", "code": ""})
            assert status in (401, 429), status
        started = time.monotonic()
        for n in range(tickets):
            clock.set(at(day, 9 + 8 * n / tickets))
            await asyncio.gather(*(serve_one(h, clerks[h]) for h in halls))
        served = time.monotonic() - started
        await asyncio.gather(*(pool.request("POST", f"/api/halls/{h}/windows/1/logout",
                                            clerks[h]) for h in halls))
        # the worker says every call (the audio cache) before the day is measured
        voice = Queue(VOICE_QUEUE, connection=sync)
        wait_until(lambda q=voice: q.count == 0 and q.started_job_registry.count == 0,
                   "the voice queue", timeout=600)
        clock.set(at(day, 17.5))
        moving.to(clock())
        before = measure(sync, halls, audio)
        clock.set(at(day, 18))
        stamp = (FIRST_DAY + timedelta(days=day)).strftime("%Y%m%d")
        for h in halls:
            await asyncio.to_thread(enqueue_rollup, url, h, stamp)
        wait_until(lambda s=stamp: all(sync.exists(f"hall:{{{h}}}:agg:{s}") for h in halls),
                   "the roll-ups", timeout=300)
        # and every roll-up job is done (the app's scheduler queues the due days too)
        reports = Queue(REPORTS_QUEUE, connection=sync)
        wait_until(lambda q=reports: q.count == 0 and q.started_job_registry.count == 0,
                   "the reports queue", timeout=300)
        clock.set(at(day + 1, 0.5))
        gone, _ = moving.to(clock())
        after = measure(sync, halls, audio)
        row = {"day": day + 1, "tickets": tickets * len(halls),
               "requests_per_s": round(4 * tickets * len(halls) / served, 1),
               "expired_by_the_moved_clock": gone,
               "before_rollup": before, "after_rollup": after}
        say(f"day {day + 1}: used {after['used_memory'] / 2**20:.2f} MiB at the next day's "
            f"start, {after['keys']} keys, {after['stream_entries']} stream entries, "
            f"{after['ticket_records']} records, {after['audio_files']} audio files")
        curve.append(row)
    await client.aclose()
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
            bare = redis.Redis.from_url(url).info("memory")["used_memory"]
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
            audio = folder / "var" / "audio"
            empty = measure(redis.Redis.from_url(url), halls, audio)
            empty["bare_used_memory"] = bare
            curve = asyncio.run(drive(port, url, clock, halls, args.tickets, args.days, audio))
        finally:
            stop_processes(processes)
    print(json.dumps(summary(empty, curve, args), indent=2))
    return 0


def _ready(port: int) -> bool:
    from bench_province import http_get

    return http_get(port, "/readyz")[0] == 200


def summary(empty: dict[str, Any], curve: list[dict[str, Any]],
            args: argparse.Namespace) -> dict[str, Any]:
    halls, tickets = args.halls, args.halls * args.tickets
    days = len(curve)
    names = sorted({k for c in curve for k in c["after_rollup"]["families"]}
                   | {k for c in curve for k in c["before_rollup"]["families"]})
    half = days // 2  # retention (1 day) applies from day 2; judge the second half

    def at_start(c: dict[str, Any], name: str) -> list[int]:
        return list(c["after_rollup"]["families"].get(name, [0, 0]))

    families = {}
    for name in names:
        kind, why = rule(name)
        series = [at_start(c, name)[1] for c in curve]
        live = [c["before_rollup"]["families"].get(name, [0, 0])[1] - (
            at_start(curve[i - 1], name)[1] if i else empty["families"].get(name, [0, 0])[1])
            for i, c in enumerate(curve)]
        growth = (series[-1] - series[half]) / max(1, days - 1 - half) / halls
        families[name] = {
            "rule": kind, "why": why,
            "count_at_each_day_start": [at_start(c, name)[0] for c in curve],
            "bytes_at_each_day_start": series,
            "growth_per_hall_day_second_half": round(growth),
            "live_day_bytes_per_ticket": round(sum(live[1:]) / max(1, days - 1) / tickets),
        }
    flat = {n: f for n, f in families.items() if f["rule"] == "flat"}
    kept = {n: f for n, f in families.items() if f["rule"] == "kept"}

    def total(group: dict[str, Any], i: int) -> int:
        return sum(f["bytes_at_each_day_start"][i] for f in group.values())

    # what is kept grows from nothing: its bytes after the last day over every hall-day
    kept_per_hall_day = {n: round(f["bytes_at_each_day_start"][-1] / days / halls)
                         for n, f in kept.items()}
    used = [c["after_rollup"]["used_memory"] for c in curve]
    audio_files = [c["after_rollup"]["audio_files"] for c in curve]
    audio_bytes = [c["after_rollup"]["audio_bytes"] for c in curve]
    day_growth = [c["before_rollup"]["used_memory"] - (curve[i - 1]["after_rollup"]["used_memory"]
                                                       if i else empty["used_memory"])
                  for i, c in enumerate(curve)]
    idle_hall = sum(size for name, (_, size) in empty["families"].items()
                    if name.startswith("hall:{h}")) / halls
    return {
        "halls": halls, "tickets_per_hall_day": args.tickets, "days": days,
        "redis_used_memory_bare": empty["bare_used_memory"],
        "redis_used_memory_idle_halls": empty["used_memory"],
        "redis_bytes_per_idle_hall": round(idle_hall),
        "redis_used_memory_idle_per_hall": round((empty["used_memory"]
                                                  - empty["bare_used_memory"]) / halls),
        "used_memory_at_each_day_start_mib": [round(u / 2**20, 3) for u in used],
        "must_be_flat_bytes_at_each_day_start": [total(flat, i) for i in range(days)],
        "kept_by_design_bytes_at_each_day_start": [total(kept, i) for i in range(days)],
        "kept_by_design_per_hall_day_bytes": kept_per_hall_day,
        "kept_by_design_per_ticket_bytes": {n: round(v / args.tickets)
                                            for n, v in kept_per_hall_day.items()},
        "bytes_per_ticket_live": round(sum(day_growth[1:]) / max(1, days - 1) / tickets),
        "audio_files_at_each_day_start": audio_files,
        "audio_bytes_at_each_day_start": audio_bytes,
        "audio_bytes_per_file": round(audio_bytes[-1] / max(1, audio_files[-1])),
        "families": families,
        "curve": curve,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    raise SystemExit(main())
