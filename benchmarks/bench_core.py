"""Benchmark the core through HTTP: ticket issues/s, call-next/s, latency, and integrity.

One command:  .venv/bin/python benchmarks/bench_core.py

It starts its own redis-server (AOF on) and ``hall serve`` process(es) on free ports, with
H copies of the district hall (one deployment, many halls) whose daily ticket limit is
raised so a long run does not sell out. Then, from this process, with a lean keep-alive
client on uvloop (benchmarks/loadgen.py):

1. issue:  C kiosk connections issue tickets as fast as they are answered, D seconds;
2. call:   every window of every hall has a clerk looping call-next → start → finish;
3. steady: tickets are issued at a fixed R per second (open loop: latency is measured
           from the moment each request was due, so a stall is not hidden);

and finally audits every hall (ticketing/audit.py): duplicate numbers and double calls
must both be 0. Runs once with 1 app process and once with 2 (the client spreads its
connections over them, as a proxy would).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from loadgen import Connection, Timings, now
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from hall.config import bundled_hall_files
from hall.redis_server import redis_server_binary
from ticketing.audit import audit_hall

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password"
# the district hall's roster: the clerk that sits at each window during the run
SEATS = {1: "S01", 2: "S02", 3: "S03", 4: "S04", 5: "S05", 6: "S06", 7: "S07", 8: "S08",
         9: "S09", 10: "S10", 11: "S11", 12: "S12"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def hall_files(folder: Path, count: int) -> list[Path]:
    """``count`` copies of the district hall, ids bench1…, with a high daily limit."""
    district = next(p for p in bundled_hall_files() if Path(p).stem == "district")
    text = Path(district).read_text(encoding="utf-8")
    text = text.replace("[rules]\n", "[rules]\nmax_ticket_per_day_per_queue = 1000000\n", 1)
    files = []
    for i in range(1, count + 1):
        path = folder / f"bench{i}.toml"
        path.write_text(re.sub(r'(?m)^id = "district"$', f'id = "bench{i}"', text),
                        encoding="utf-8")
        files.append(path)
    return files


def start_redis(data: Path, port: int, fsync: str) -> subprocess.Popen[bytes]:
    """A redis-server on loopback ``port`` with AOF (``fsync`` policy) in ``data``."""
    data.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(data), "--appendonly", "yes", "--appendfsync", fsync,
         "--save", "", "--logfile", str(data / "redis.log")])


def start_apps(processes: list[subprocess.Popen[bytes]], count: int, port: int,
               env: dict[str, str], folder: Path) -> None:
    """``count`` ``hall serve --reuse-port`` processes on one port (each logging to
    ``folder/app-<i>.log``), added to ``processes`` as they start so the caller can stop
    them; returns once every one has written its start line (with SO_REUSEPORT a probe
    may land on either process, so an HTTP probe cannot tell)."""
    for i in range(count):
        log = open(folder / f"app-{i}.log", "ab")  # noqa: SIM115 - handed to the child
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "hall.cli", "serve", "--port", str(port),
             "--reuse-port", "--no-worker", "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=log))
    wait_until(lambda: all("Hall is running" in (folder / f"app-{i}.log").read_text()
                           for i in range(count)), "hall serve", timeout=120)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process, last started first; kill what is still running after 20 s."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def audit_summary(reports: list[Any]) -> dict[str, int]:
    """``ticketing.audit`` reports of several halls, summed: tickets and every kind of fault."""
    return {
        "tickets": sum(r.tickets for r in reports),
        "duplicate_numbers": sum(len(r.duplicate_numbers) for r in reports),
        "double_calls": sum(len(r.double_calls) for r in reports),
        "lost": sum(len(r.lost) for r in reports),
        "inconsistent": sum(len(r.inconsistent) for r in reports),
    }


class Stack:
    """redis-server plus N ``hall serve`` processes, all started for real."""

    def __init__(self, folder: Path, apps: int, halls: list[Path], fsync: str) -> None:
        self.folder, self.halls, self.fsync = folder, halls, fsync
        self.redis_port = free_port()
        self.ports = [free_port() for _ in range(apps)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> Stack:
        self.processes.append(start_redis(self.folder / "redis", self.redis_port, self.fsync))
        client = redis.Redis.from_url(self.redis_url)
        wait_until(client.ping, "redis-server")
        # HALL_ALWAYS_OPEN: a throughput run must not depend on the hall's opening hours
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALL_START_WORKER": "0",
               "HALL_ALWAYS_OPEN": "1",
               "HALL_DATA": str(self.folder / "var"),
               "HALL_FILES": os.pathsep.join(str(p) for p in self.halls)}
        for port in self.ports:
            log = open(self.folder / f"app-{port}.log", "ab")  # noqa: SIM115
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "hall.cli", "serve", "--port", str(port), "--no-worker",
                 "--log-level", "warning"], env=env, cwd=ROOT, stdout=log, stderr=log))
        for port in self.ports:
            try:
                wait_until(lambda p=port: _get_ok(p), f"hall serve on {port}")
            except RuntimeError:
                print((self.folder / f"app-{port}.log").read_text()[-3000:], file=sys.stderr)
                self.stop()
                raise
        return self

    def stop(self) -> None:
        stop_processes(self.processes)

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.processes[1:]]


def _get_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"GET /api/halls HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(12).endswith(b"200")


async def provision(stack: Stack, hall_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Kiosk device tokens per hall and clerk session tokens per (hall, window)."""
    client = AsyncRedis.from_url(stack.redis_url)
    auth = AuthStore(client)
    kiosks: dict[str, str] = {}
    for hall in hall_ids:
        kiosks[hall] = await auth.add_device(Role.KIOSK, hall, f"{hall}-kiosk")
        for staff in SEATS.values():
            await auth.add_user(f"{hall}-{staff}", PASSWORD, Role.CLERK, (hall,), staff)
    await client.aclose()
    clerks: dict[str, str] = {}
    conn = await Connection("127.0.0.1", stack.ports[0]).open()
    for hall in hall_ids:
        for window, staff in SEATS.items():
            status, body = await conn.request("POST", "/api/login", {
                "username": f"{hall}-{staff}", "password": PASSWORD})
            assert status == 200, body
            token = body["token"]
            status, body = await conn.request(
                "POST", f"/api/halls/{hall}/windows/{window}/login", token=token)
            assert status == 200, body
            clerks[f"{hall}/{window}"] = token
    conn.close()
    return kiosks, clerks


async def _connections(stack: Stack, count: int) -> list[Connection]:
    return [await Connection("127.0.0.1", stack.ports[i % len(stack.ports)]).open()
            for i in range(count)]


async def issue_phase(stack: Stack, kiosks: dict[str, str], matters: list[str],
                      clients: int, seconds: float) -> Timings:
    halls = list(kiosks)
    timings = Timings()
    conns = await _connections(stack, clients)

    async def loop(i: int, conn: Connection) -> None:
        rng = random.Random(i)
        while now() < stop:
            hall = halls[rng.randrange(len(halls))]
            t0 = now()
            status, _ = await conn.request("POST", f"/api/halls/{hall}/tickets",
                                           {"matter": rng.choice(matters)}, kiosks[hall])
            if status == 201:
                timings.add(now() - t0)
            else:
                timings.error(status)

    timings.started = now()
    stop = timings.started + seconds
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(conns)))
    timings.ended = now()
    for c in conns:
        c.close()
    return timings


async def call_phase(stack: Stack, clerks: dict[str, str], seconds: float
                     ) -> tuple[Timings, Timings, int]:
    """Every clerk loops call-next → start → finish; returns (call-next, start+finish, empty)."""
    calls, others = Timings(), Timings()
    empty = 0
    conns = await _connections(stack, len(clerks))

    async def loop(seat: str, token: str, conn: Connection) -> None:
        nonlocal empty
        hall, window = seat.split("/")
        base = f"/api/halls/{hall}/windows/{window}"
        while now() < stop:
            t0 = now()
            status, body = await conn.request("POST", f"{base}/call-next", token=token)
            if status != 200:
                calls.error(status)
                continue
            if body["ticket"] is None:
                empty += 1
                await asyncio.sleep(0.01)
                continue
            calls.add(now() - t0)
            for action in ("start", "finish"):
                t0 = now()
                status, _ = await conn.request("POST", f"{base}/{action}", token=token)
                if status == 200:
                    others.add(now() - t0)
                else:
                    others.error(status)

    calls.started = others.started = now()
    stop = calls.started + seconds
    await asyncio.gather(*(loop(s, t, c) for (s, t), c in zip(clerks.items(), conns,
                                                                strict=True)))
    calls.ended = others.ended = now()
    for c in conns:
        c.close()
    return calls, others, empty


async def steady_phase(stack: Stack, kiosks: dict[str, str], matters: list[str],
                       rate: float, seconds: float, clients: int) -> Timings:
    """Open loop: request k is due at start + k/rate, sent on a free connection."""
    halls = list(kiosks)
    timings = Timings()
    conns = await _connections(stack, clients)
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        free.put_nowait(c)
    rng = random.Random(7)
    total = int(rate * seconds)

    async def one(due: float, hall: str, matter: str) -> None:
        conn = await free.get()
        status, _ = await conn.request("POST", f"/api/halls/{hall}/tickets", {"matter": matter},
                                       kiosks[hall])
        free.put_nowait(conn)
        if status == 201:
            timings.add(now() - due)
        else:
            timings.error(status)

    tasks = []
    timings.started = now()
    for k in range(total):
        due = timings.started + k / rate
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(
            one(due, halls[rng.randrange(len(halls))], rng.choice(matters))))
    await asyncio.gather(*tasks)
    timings.ended = now()
    for c in conns:
        c.close()
    return timings


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU seconds used so far by the given processes (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


class Usage:
    """CPU used during a phase by the app processes, Redis and this load generator.

    CPU per request is the figure least disturbed by other work on a shared machine:
    wall-clock rates fall when others take the cores, CPU per request barely moves.
    """

    def __init__(self, stack: Stack) -> None:
        self.apps = stack.app_pids()
        self.redis = [stack.processes[0].pid]

    @contextlib.contextmanager
    def phase(self) -> Iterator[PhaseCpu]:
        cpu = PhaseCpu()
        a, r, c, t = (cpu_seconds(self.apps), cpu_seconds(self.redis), time.process_time(),
                      time.monotonic())
        yield cpu
        cpu.app = cpu_seconds(self.apps) - a
        cpu.redis = cpu_seconds(self.redis) - r
        cpu.client = time.process_time() - c
        cpu.wall = time.monotonic() - t


@dataclasses.dataclass
class PhaseCpu:
    app: float = 0.0
    redis: float = 0.0
    client: float = 0.0
    wall: float = 0.0

    def per(self, requests: int) -> dict[str, float]:
        n = max(requests, 1)
        return {"app_cpu_ms_per_req": round(self.app / n * 1000, 3),
                "redis_cpu_ms_per_req": round(self.redis / n * 1000, 3),
                "client_cpu_ms_per_req": round(self.client / n * 1000, 3),
                "app_cores_busy": round(self.app / self.wall, 2) if self.wall else 0.0}


async def run(apps: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        folder = Path(tmp)
        files = hall_files(folder, args.halls)
        stack = Stack(folder, apps, files, args.fsync).start()
        try:
            hall_ids = [p.stem for p in files]
            kiosks, clerks = await provision(stack, hall_ids)
            _, info = await (await Connection("127.0.0.1", stack.ports[0]).open()).request(
                "GET", f"/api/halls/{hall_ids[0]}")
            matters = [m["code"] for m in info["matters"]]
            result: dict[str, Any] = {"apps": apps, "halls": args.halls,
                                      "clients": args.clients}
            usage = Usage(stack)
            if "issue" in args.phases:
                with usage.phase() as cpu:
                    timings = await issue_phase(stack, kiosks, matters, args.clients,
                                                args.seconds)
                result["issue"] = {**timings.summary(), **cpu.per(len(timings.latencies))}
            if "call" in args.phases:
                if "issue" not in args.phases:  # the clerks need people waiting
                    await issue_phase(stack, kiosks, matters, args.clients, args.seconds / 2)
                with usage.phase() as cpu:
                    calls, others, empty = await call_phase(stack, clerks, args.seconds)
                requests = len(calls.latencies) + len(others.latencies) + empty
                result["call_next"] = {**calls.summary(), "empty_answers": empty}
                result["start_finish"] = {**others.summary(), **cpu.per(requests)}
            if "steady" in args.phases:
                with usage.phase() as cpu:
                    timings = await steady_phase(stack, kiosks, matters, args.rate,
                                                 args.seconds, args.clients)
                result["steady"] = {**timings.summary(), **cpu.per(len(timings.latencies))}
            client = redis.Redis.from_url(stack.redis_url)
            reports = [audit_hall(client, h) for h in hall_ids]
            result["audit"] = audit_summary(reports)
            return result
        finally:
            stack.stop()


def report(result: dict[str, Any]) -> str:
    lines = [f"== {result['apps']} app process(es), {result['halls']} halls, "
             f"{result['clients']} client connections =="]
    for name in ("issue", "call_next", "start_finish", "steady"):
        if name not in result:
            continue
        r = result[name]
        lines.append(f"{name:13} {r['count']:7d} ok  {r['per_s']:8.1f}/s  p50 {r['p50_ms']:6.2f} "
                     f"ms  p90 {r['p90_ms']:6.2f}  p99 {r['p99_ms']:6.2f}  max {r['max_ms']:7.2f}"
                     f"  errors {r['errors']}")
        if "app_cpu_ms_per_req" in r:
            lines.append(f"{'':13} CPU ms per request: app {r['app_cpu_ms_per_req']:.3f}, redis "
                         f"{r['redis_cpu_ms_per_req']:.3f}, load generator "
                         f"{r['client_cpu_ms_per_req']:.3f}; app cores busy "
                         f"{r['app_cores_busy']}")
    lines.append(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    lines.append(f"audit         {result['audit']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", default="1,2", help="app process counts to run (1,2)")
    parser.add_argument("--halls", type=int, default=4)
    parser.add_argument("--clients", type=int, default=64, help="kiosk connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=500.0, help="steady issues per second")
    parser.add_argument("--fsync", default="everysec", choices=["everysec", "always"])
    parser.add_argument("--phases", default="issue,call,steady",
                        help="which phases to run (issue,call,steady)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    results = []
    for apps in (int(a) for a in args.apps.split(",")):
        result = asyncio.run(run(apps, args))
        print(report(result), flush=True)
        results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    bad = any(r["audit"]["duplicate_numbers"] or r["audit"]["double_calls"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
