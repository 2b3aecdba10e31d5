"""Benchmark: does a burst of logins stall the app? /healthz and a board's call latency
while 20 logins run at once (issue 11: argon2 on the event loop took /healthz from
0.4 ms to 204 ms under 16 logins).

One command:  .venv/bin/python benchmarks/bench_login.py [--logins 20] [--seconds 10]
              [--app-root DIR]   (DIR: another checkout, e.g. the code before the change)

It starts its own redis-server and ONE ``hall serve`` process, signs a clerk in at
window 1 and opens a public board socket. Each phase (idle, then N concurrent login
loops with the right password) lasts ``--seconds``: a sampler GETs /healthz every 20 ms,
and the clerk issues a ticket and calls it every 250 ms, timing from sending call-next to
the board receiving ``ticket.called``. Reports p50 / p99 / max and logins per second.
Clerk accounts (no second factor) are written in the record shape both the old and the
new code read, the rest goes through HTTP, so ``--app-root`` can run an older checkout
(the code before the change) against the same steps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from hall.auth.accounts import USERS  # noqa: E402
from hall.auth.tokens import user_key  # noqa: E402
from tests.e2e.live import PASSWORD  # noqa: E402
from tests.support import RedisServer, free_port  # noqa: E402

HALL = "/api/halls/district"


def start_app(redis_url: str, root: Path, port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": redis_url, "HALL_START_WORKER": "0",
           "HALL_ALWAYS_OPEN": "1", "HALL_DATA": str(data),
           "HALL_IDENTITY_SECRET": "bench-identity-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "hall.cli", "serve", "--port", str(port),
                             "--no-worker", "--log-level", "warning"], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("app did not start")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def phase(base: str, clerk: dict[str, str], users: list[str], logins: int,
                seconds: float) -> dict[str, Any]:
    ws_url = base.replace("http://", "ws://") + "/ws/halls/district"
    seen: dict[str, float] = {}
    stop = asyncio.Event()
    health: list[float] = []
    calls: list[float] = []
    done_logins = 0

    async def board() -> None:
        async with connect(ws_url) as ws:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("type") == "ticket.called":
                    seen[message["data"]["ticket"]["number"]] = time.perf_counter()

    async def sampler(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = await client.get("/healthz")
            r.raise_for_status()
            health.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.02)

    async def caller(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            issued = await client.post(f"{HALL}/tickets", json={"matter": "QY-KB"},
                                       headers=clerk)
            issued.raise_for_status()
            number = issued.json()["number"]
            t0 = time.perf_counter()
            called = await client.post(f"{HALL}/windows/1/call-next", headers=clerk)
            called.raise_for_status()
            deadline = time.perf_counter() + 10
            while number not in seen and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if number in seen:
                calls.append((seen[number] - t0) * 1000)
            await client.post(f"{HALL}/windows/1/no-show", headers=clerk)
            await asyncio.sleep(0.25)

    async def loader(client: httpx.AsyncClient, username: str) -> None:
        nonlocal done_logins
        while not stop.is_set():
            r = await client.post("/api/login", json={"username": username,
                                                      "password": PASSWORD})
            r.raise_for_status()
            done_logins += 1

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    # like the login page in a browser: same-origin Origin on every POST
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits,
                                 headers={"Origin": base}) as client, \
            httpx.AsyncClient(base_url=base, timeout=30) as probe:
        board_task = asyncio.create_task(board())
        await asyncio.sleep(0.5)
        tasks = [asyncio.create_task(sampler(probe)), asyncio.create_task(caller(probe))]
        tasks += [asyncio.create_task(loader(client, users[i % len(users)]))
                  for i in range(logins)]
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        stop.set()
        elapsed = time.perf_counter() - started
        await asyncio.gather(*tasks, board_task)
    return {"logins_running": logins, "healthz_n": len(health),
            "healthz_p50_ms": round(pct(health, 50), 2),
            "healthz_p99_ms": round(pct(health, 99), 2),
            "healthz_max_ms": round(max(health), 2),
            "call_n": len(calls), "call_p50_ms": round(pct(calls, 50), 2),
            "call_p99_ms": round(pct(calls, 99), 2),
            "logins_per_s": round(done_logins / elapsed, 1),
            "healthz_mean_ms": round(statistics.fmean(health), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--app-root", type=Path, default=ROOT)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-login-"))
    server = RedisServer(folder / "redis").start()
    port = free_port()
    app = start_app(server.url, args.app_root, port, folder / "app")
    base = f"http://127.0.0.1:{port}"
    try:
        users = [f"bench-{i}" for i in range(args.logins)]

        # Written in the record shape both the old and the new code read (an old checkout
        # cannot parse the new principal fields); the new code takes a missing field as
        # its default.
        r = redis.Redis.from_url(server.url)
        hashed = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
        for name, staff in (("district-S01", "S01"), *((u, "S02") for u in users)):
            principal = {"name": name, "role": "clerk", "halls": ["district"],
                         "staff_id": staff, "display_name": name, "window": None}
            record = {"principal": json.dumps(principal), "password_hash": hashed,
                      "must_change": ""}
            # the names an old checkout reads and this one's (hall.auth.tokens): the app
            # moved older keys at its start, before these were written
            r.hset(f"auth:user:{name}", mapping=record)
            r.sadd("auth:users", name)
            r.hset(user_key(name), mapping=record)
            r.sadd(USERS, name)
        token = httpx.post(f"{base}/api/login", json={"username": "district-S01",
                                                      "password": PASSWORD}).json()["token"]
        clerk = {"Authorization": f"Bearer {token}"}
        httpx.post(f"{base}{HALL}/windows/1/login", headers=clerk).raise_for_status()
        rows = [asyncio.run(phase(base, clerk, users, n, args.seconds))
                for n in (0, args.logins)]
    finally:
        app.terminate()
        app.wait(timeout=30)
        server.stop()
    print(f"app: {args.app_root}   (machine: 2 cores, shared; load {os.getloadavg()[0]:.1f})")
    print(f"{'logins at once':>15} {'healthz p50':>12} {'p99':>8} {'max':>8} "
          f"{'call p50':>9} {'p99':>8} {'logins/s':>9}")
    for r in rows:
        print(f"{r['logins_running']:>15} {r['healthz_p50_ms']:>10.2f}ms "
              f"{r['healthz_p99_ms']:>6.1f}ms {r['healthz_max_ms']:>6.1f}ms "
              f"{r['call_p50_ms']:>7.1f}ms {r['call_p99_ms']:>6.1f}ms {r['logins_per_s']:>9.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
