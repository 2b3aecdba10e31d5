"""A province on one deployment: start-up and idle memory at 20,000 halls, then a busy morning.

    .venv/bin/python benchmarks/bench_province.py            # both phases (~2 minutes)
    .venv/bin/python benchmarks/bench_province.py --morning 0  # start-up and idle only
    .venv/bin/python benchmarks/bench_province.py --morning 0 --settle 60 --idle 120
                                                       # idle CPU once the start's work is done

Starts Debian's redis-server (AOF, fsync every second) and two ``hall serve`` processes on
one province file (``hall province generate``: 20 district, 1,500 town, 18,480 village
halls = 20,000), with no worker (speech is not measured here).

1. **Start-up**: from spawning the two processes to both answering ``/readyz`` 200
   (target ≤ 60 s); then 30 s idle: resident memory of the app processes and Redis
   (target ≤ 2 GiB together), CPU used while idle, asyncio tasks, ``/metrics`` time.
2. **Busy morning**: 2,000 halls active at their peak rates (20 district at 600
   tickets/h, 500 town at 120/h, 1,480 village at 30/h: ~32 issues/s), open loop (Poisson
   arrivals; latency counted from the scheduled time, so a stalled server cannot hide),
   one clerk per hall calling, starting and finishing at the same rate, and one public
   board (websocket) per active hall, so the hub reads 2,000 watched halls.
   Target: p99 of issue and of call-next ≤ 100 ms on 2 cores.

Accounts are made fast on purpose: one real clerk account is hashed with argon2, the other
1,999 copy its password hash and get their sessions through the auth store directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import websockets
from bench_core import cpu_seconds, free_port, stop_processes, wait_until
from bench_throughput import app_stalls, stall_causes
from loadgen import Connection, Timings, now
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from hall.auth.principal import Principal
from hall.auth.tokens import user_key
from hall.config.province import province_text
from hall.redis_server import redis_server_binary

ROOT = Path(__file__).resolve().parent.parent
PROVINCE = {"district": 20, "town": 1500, "village": 18480}
PEAK_PER_HOUR = {"district": 600, "town": 120, "village": 30}
ACTIVE = {"district": 20, "town": 500, "village": 1480}
MATTER = {"district": "QY-KB", "town": "SB-CB", "village": "CM-ZM"}
CLERK = {"district": "S01", "town": "T01", "village": "V01"}
PASSWORD = "benchmark-password-9"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http_get(port: int, path: str) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


class Province:
    def __init__(self, folder: Path, apps: int, trace_stalls: int = 0) -> None:
        self.folder, self.trace_stalls = folder, trace_stalls
        self.redis_port = free_port()
        self.ports = [free_port() for _ in range(apps)]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.file = folder / "province.toml"
        self.file.write_text(province_text(PROVINCE, cities=21), encoding="utf-8")

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start_redis(self) -> None:
        data = self.folder / "redis"
        data.mkdir()
        self.processes.append(subprocess.Popen(
            [redis_server_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--logfile", str(data / "redis.log")]))
        wait_until(redis.Redis.from_url(self.redis_url).ping, "redis-server")

    def start_apps(self) -> float:
        """Spawn the app processes; seconds until every one answers /readyz 200."""
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALL_START_WORKER": "0",
               "HALL_ALWAYS_OPEN": "1", "HALL_DATA": str(self.folder / "var"),
               "HALL_FILES": str(self.file), "HALL_STALL_TRACE_MS": str(self.trace_stalls)}
        started = time.monotonic()
        for port in self.ports:
            log = open(self.folder / f"app-{port}.log", "ab")  # noqa: SIM115
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "hall.cli", "serve", "--port", str(port),
                 "--no-worker", "--log-level", "warning"],
                env=env, cwd=ROOT, stdout=log, stderr=log))
        for port in self.ports:
            wait_until(lambda p=port: http_get(p, "/readyz")[0] == 200,
                       f"hall serve on {port}", timeout=170)
        return time.monotonic() - started

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.processes[1:]]

    def app_logs(self) -> list[Path]:
        return [self.folder / f"app-{port}.log" for port in self.ports]

    def stop(self) -> None:
        stop_processes(self.processes)


def idle(stack: Province, seconds: float) -> dict[str, Any]:
    pids = stack.app_pids()
    redis_pid = stack.processes[0].pid
    cpu0, rcpu0 = cpu_seconds(pids), cpu_seconds([redis_pid])
    time.sleep(seconds)
    cpu, rcpu = cpu_seconds(pids) - cpu0, cpu_seconds([redis_pid]) - rcpu0
    info = redis.Redis.from_url(stack.redis_url).info("memory")
    dbsize = redis.Redis.from_url(stack.redis_url).dbsize()
    t = time.monotonic()
    try:
        status, body = http_get(stack.ports[0], "/metrics")
    except OSError:  # a timeout (30 s) is a figure too
        status, body = 0, b""
    scrape = time.monotonic() - t
    apps_mib = sum(rss_mib(p) for p in pids)
    redis_mib = rss_mib(redis_pid)
    return {
        "apps_rss_mib": round(apps_mib, 1), "redis_rss_mib": round(redis_mib, 1),
        "redis_used_memory_mib": round(info["used_memory"] / 2**20, 1),
        "total_mib": round(apps_mib + redis_mib, 1), "redis_keys": dbsize,
        "idle_app_cpu_pct": round(100 * cpu / seconds, 1),
        "idle_redis_cpu_pct": round(100 * rcpu / seconds, 1),
        "metrics_status": status, "metrics_seconds": round(scrape, 2),
        "metrics_kib": round(len(body) / 1024, 1),
    }


def active_halls() -> list[tuple[str, str]]:
    """(hall id, template) of the halls active this morning."""
    out = []
    for template, count in ACTIVE.items():
        out += [(f"{template[0]}{n:05d}", template) for n in range(1, count + 1)]
    return out


async def provision(stack: Province, halls: list[tuple[str, str]]
                    ) -> tuple[dict[str, str], dict[str, str]]:
    client = AsyncRedis.from_url(stack.redis_url)
    auth = AuthStore(client)
    first, template = halls[0]
    await auth.add_user(f"{first}-{CLERK[template]}", PASSWORD, Role.CLERK, (first,),
                        CLERK[template])
    model = {k.decode(): v.decode() for k, v in
             (await client.hgetall(user_key(f"{first}-{CLERK[template]}"))).items()}
    kiosks, clerks = {}, {}

    async def one(hall: str, template: str) -> None:
        kiosks[hall] = await auth.add_device(Role.KIOSK, hall, f"{hall}-kiosk")
        name, staff = f"{hall}-{CLERK[template]}", CLERK[template]
        principal = Principal(name, Role.CLERK, (hall,), staff, name)
        await client.hset(user_key(name), mapping={**model, "principal": principal.to_json()})
        clerks[hall] = await auth.tokens.open_session(name, model.get("gen", "0"), principal)

    for i in range(0, len(halls), 100):
        await asyncio.gather(*(one(h, t) for h, t in halls[i:i + 100]))
    await client.aclose()
    pool = await Pool().open(stack.ports, 16)

    async def login(hall: str) -> None:
        status, body = await pool.request("POST", f"/api/halls/{hall}/windows/1/login",
                                          clerks[hall])
        assert status == 200, (hall, status, body)

    await asyncio.gather(*(login(h) for h, _ in halls))
    pool.close()
    return kiosks, clerks


class Pool:
    """Keep-alive connections to the app processes, handed out to requests as they free up."""

    def __init__(self) -> None:
        self.free: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self, ports: list[int], per_app: int) -> Pool:
        for port in ports:
            for _ in range(per_app):
                self.free.put_nowait(await Connection("127.0.0.1", port).open())
        return self

    def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()

    async def request(self, method: str, path: str, token: str, body: Any = None
                      ) -> tuple[int, Any]:
        conn = await self.free.get()
        try:
            try:
                return await conn.request(method, path, body, token=token)
            except (asyncio.IncompleteReadError, ConnectionError):
                # the server closed an idle keep-alive connection: open it again
                conn.close()
                conn = await Connection(conn.host, conn.port).open()
                return await conn.request(method, path, body, token=token)
        finally:
            self.free.put_nowait(conn)


async def boards(stack: Province, halls: list[tuple[str, str]], counts: dict[str, int],
                 stop: asyncio.Event) -> list[Any]:
    async def connect(i: int, hall: str) -> Any:
        port = stack.ports[i % len(stack.ports)]
        return await websockets.connect(f"ws://127.0.0.1:{port}/ws/halls/{hall}",
                                        max_size=2**22, open_timeout=60)

    sockets: list[Any] = []
    for i in range(0, len(halls), 50):
        sockets += await asyncio.gather(*(connect(i + j, h)
                                          for j, (h, _) in enumerate(halls[i:i + 50])))

    async def read(ws: Any) -> None:
        try:
            async for message in ws:
                kind = json.loads(message).get("type", "")
                counts[kind] = counts.get(kind, 0) + 1
        except websockets.ConnectionClosed:
            counts["closed"] = counts.get("closed", 0) + 1

    tasks = [asyncio.create_task(read(ws)) for ws in sockets]
    await stop.wait()
    for ws in sockets:
        await ws.close()
    await asyncio.wait(tasks, timeout=10)
    return sockets


async def morning(stack: Province, seconds: float) -> dict[str, Any]:
    halls = active_halls()
    t0 = time.monotonic()
    say(f"provisioning {len(halls)} halls")
    kiosks, clerks = await provision(stack, halls)
    provisioned = time.monotonic() - t0
    say(f"provisioned in {provisioned:.1f} s; connecting boards")
    counts: dict[str, int] = {}
    stop = asyncio.Event()
    board_task = asyncio.create_task(boards(stack, halls, counts, stop))
    t1 = time.monotonic()
    while counts.get("hub.snapshot", 0) < len(halls) and time.monotonic() - t1 < 90:
        await asyncio.sleep(0.2)
    snapshots = counts.get("hub.snapshot", 0)
    say(f"{snapshots} boards have their snapshot; the morning starts")
    pool = await Pool().open(stack.ports, 48)
    rates = [PEAK_PER_HOUR[t] / 3600 for _, t in halls]
    total = sum(rates)
    issue, call, serve = Timings(), Timings(), Timings()
    busy: set[str] = set()
    skipped = 0
    tasks: list[asyncio.Task[None]] = []

    async def do_issue(hall: str, template: str, at: float) -> None:
        status, _ = await pool.request("POST", f"/api/halls/{hall}/tickets", kiosks[hall],
                                       {"matter": MATTER[template]})
        (issue.add(now() - at) if status == 201 else issue.error(status))

    async def do_call(hall: str, at: float) -> None:
        busy.add(hall)
        try:
            status, body = await pool.request(
                "POST", f"/api/halls/{hall}/windows/1/call-next", clerks[hall])
            if status != 200:
                call.error(status)
                return
            call.add(now() - at)
            if not body or not body.get("ticket"):
                return
            started = now()
            for step in ("start", "finish"):
                status, _ = await pool.request(
                    "POST", f"/api/halls/{hall}/windows/1/{step}", clerks[hall])
                if status != 200:
                    serve.error(status)
                    return
            serve.add(now() - started)
        finally:
            busy.discard(hall)

    cpu0 = cpu_seconds(stack.app_pids())
    rcpu0 = cpu_seconds([stack.processes[0].pid])
    client0 = time.process_time()
    epoch0 = time.time()
    rng = random.Random(7)
    begin = now()
    issue.started = call.started = serve.started = begin
    at = begin
    while True:
        at += rng.expovariate(2 * total)  # issues and calls, each at the halls' rates
        if at - begin > seconds:
            break
        delay = at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        hall, template = rng.choices(halls, weights=rates)[0]
        if rng.random() < 0.5:
            tasks.append(asyncio.create_task(do_issue(hall, template, at)))
        elif hall in busy:
            skipped += 1  # the clerk is still serving: no second call
        else:
            tasks.append(asyncio.create_task(do_call(hall, at)))
    await asyncio.wait(tasks, timeout=60)
    issue.ended = call.ended = serve.ended = now()
    client_cpu = time.process_time() - client0
    app_cpu = cpu_seconds(stack.app_pids()) - cpu0
    redis_cpu = cpu_seconds([stack.processes[0].pid]) - rcpu0
    await asyncio.sleep(1.0)  # the boards get the last events
    stop.set()
    await board_task
    stalls = app_stalls(stack.app_logs(), epoch0, time.time())
    return {
        "active_halls": len(halls), "offered_issues_per_s": round(total, 1),
        "seconds": seconds, "provision_seconds": round(provisioned, 1),
        "boards": len(halls), "board_snapshots": snapshots,
        "issue": issue.summary(), "call_next": call.summary(), "start_finish": serve.summary(),
        "calls_skipped_busy_clerk": skipped,
        "board_messages": {k: v for k, v in counts.items() if k != "hub.snapshot"},
        "app_cpu_cores": round(app_cpu / seconds, 2),
        "redis_cpu_cores": round(redis_cpu / seconds, 2),
        "load_generator_cpu_cores": round(client_cpu / seconds, 2),
        # event-loop stalls the apps logged (hall.metrics.LoopMonitor), by what held the loop
        "app_stalls": {"count": len(stalls), "ms": sum(x["ms"] for x in stalls),
                       "cpu_ms": sum(x["cpu_ms"] for x in stalls),
                       "by_cause": stall_causes(stalls)[:10]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=2)
    parser.add_argument("--idle", type=float, default=30.0, help="idle seconds measured")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="seconds after start before the idle measurement (the first "
                             "minute holds the start's work: leads, first policy runs)")
    parser.add_argument("--morning", type=float, default=60.0,
                        help="seconds of the busy morning (0: skip it)")
    parser.add_argument("--trace-stalls", type=int, default=0, metavar="MS",
                        help="the apps log stalls from MS ms with the stack that held "
                             "their event loop (HALL_STALL_TRACE_MS); else from 50 ms")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-province-") as tmp:
        stack = Province(Path(tmp), args.apps, args.trace_stalls)
        result: dict[str, Any] = {"halls": sum(PROVINCE.values()), "apps": args.apps}
        try:
            stack.start_redis()
            result["start_seconds"] = round(stack.start_apps(), 2)
            say(f"started in {result['start_seconds']} s; idle for {args.idle} s"
                f" after {args.settle} s")
            time.sleep(args.settle)
            result["settle_seconds"] = args.settle
            result["idle"] = idle(stack, args.idle)
            say(f"idle: {result['idle']}")
            if args.morning > 0:
                result["morning"] = asyncio.run(morning(stack, args.morning))
                say(f"morning: {result['morning']}")
                result["after_morning"] = idle(stack, 5.0)
        finally:
            stack.stop()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
