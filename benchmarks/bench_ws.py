"""Benchmark the hub's fan-out: N websocket boards on one app process, a clerk calling steadily.

One command:  .venv/bin/python benchmarks/bench_ws.py [--boards 1000] [--calls 120] [--rate 2]

It starts its own redis-server and ONE ``hall serve`` process, issues the tickets, signs a
clerk in at window 1, and opens N public board sockets (/ws/halls/district) from W client
processes (uvloop). Then the clerk calls at a steady rate (call-next, then no-show so the
window is free again; both events fan out to every board). For every call and every board
it records the time from the call's HTTP response to the board receiving ``ticket.called``
(wall clock, one machine), and reports p50 / p99 / max, plus missed and duplicated events
(both must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hall.auth import Role  # noqa: E402
from tests.e2e.live import add_clerk, add_device, clerk_session  # noqa: E402
from tests.support import AppProcess, RedisServer  # noqa: E402


def board_worker(url: str, count: int, compression: str | None, ready: Any, stop: Any,
                 out: Any) -> None:
    """Open ``count`` boards; record (board, number, receive time) of every call they see."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    from websockets.asyncio.client import connect

    received: list[tuple[int, str, float]] = []
    failures: list[str] = []

    async def board(index: int, opened: asyncio.Event, counter: list[int]) -> None:
        connected = False
        for attempt in range(5):
            try:
                async with connect(url, max_size=None, ping_interval=None, open_timeout=60,
                                   compression=compression) as ws:
                    await ws.recv()  # the snapshot
                    connected = True
                    counter[0] += 1
                    if counter[0] == count:
                        opened.set()
                    async for raw in ws:
                        at = time.time()
                        if '"ticket.called"' in raw:
                            msg = json.loads(raw)
                            received.append((index, msg["data"]["ticket"]["number"], at))
                return
            except Exception as exc:  # reported; a board that never connects counts as missed
                failures.append(f"board {index} attempt {attempt}: {exc!r}")
                if connected:
                    return
                await asyncio.sleep(1.0)
        counter[0] += 1
        if counter[0] == count:
            opened.set()

    async def main() -> None:
        opened = asyncio.Event()
        counter = [0]
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(board(i, opened, counter)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not stampede the accept queue
        await asyncio.wait_for(opened.wait(), 120)
        ready.put(count)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put({"received": received, "failures": failures})


def process_cpu_seconds(app: AppProcess) -> float:
    """User + system CPU time of the app process so far (from /proc)."""
    assert app.process is not None
    fields = Path(f"/proc/{app.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def run(boards: int, calls: int, rate: float, workers: int, deflate: bool) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, boards * 2 + 1024)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    server = RedisServer(tmp / "redis").start()
    app = AppProcess(server.url, log_path=tmp / "app.log").start()
    ctx = mp.get_context("spawn")
    procs = []
    try:
        kiosk = {"Authorization": f"Bearer {add_device(server.url, Role.KIOSK)}"}
        with httpx.Client(base_url=app.base_url, timeout=30) as http:
            for _ in range(calls):
                r = http.post("/api/halls/district/tickets", json={"matter": "QY-KB"},
                              headers=kiosk)
                r.raise_for_status()
        clerk = clerk_session(app.base_url, add_clerk(server.url, "S01"))
        clerk.post("/api/halls/district/windows/1/login").raise_for_status()

        ready, stop, out = ctx.Queue(), ctx.Event(), ctx.Queue()
        url = app.base_url.replace("http://", "ws://") + "/ws/halls/district"
        share = [boards // workers + (1 if i < boards % workers else 0) for i in range(workers)]
        started = time.monotonic()
        for n in share:
            compression = "deflate" if deflate else None
            p = ctx.Process(target=board_worker, args=(url, n, compression, ready, stop, out))
            p.start()
            procs.append(p)
        for _ in share:
            ready.get(timeout=180)
        connect_seconds = time.monotonic() - started
        hub = httpx.get(f"{app.base_url}/api/hub").json()
        time.sleep(1.0)

        cpu_before = process_cpu_seconds(app)
        sent: dict[str, float] = {}
        interval = 1.0 / rate
        due = time.monotonic()
        for _ in range(calls):
            due += interval
            r = clerk.post("/api/halls/district/windows/1/call-next")
            at = time.time()
            r.raise_for_status()
            sent[r.json()["ticket"]["number"]] = at
            clerk.post("/api/halls/district/windows/1/no-show").raise_for_status()
            time.sleep(max(0.0, due - time.monotonic()))
        time.sleep(3.0)
        server_cpu = process_cpu_seconds(app) - cpu_before
        stop.set()
        results = [out.get(timeout=120) for _ in procs]
        hub_after = httpx.get(f"{app.base_url}/api/hub").json()
    finally:
        for p in procs:
            p.join(timeout=30)
        app.stop()
        server.stop()

    received = [r for res in results for r in res["received"]]
    failures = [f for res in results for f in res["failures"]]
    seen: dict[tuple[int, int, str], int] = {}
    latencies = []
    for w, res in enumerate(results):
        for index, number, at in res["received"]:
            key = (w, index, number)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1 and number in sent:
                latencies.append((at - sent[number]) * 1000)
    duplicated = sum(n - 1 for n in seen.values())
    expected = boards * calls
    return {
        "boards": boards, "calls": calls, "rate_per_s": rate, "client_processes": workers,
        "deflate": deflate,
        "hub_clients": hub["clients"], "connect_seconds": round(connect_seconds, 1),
        "deliveries": len(received), "expected": expected,
        "missed": expected - len(seen), "duplicated": duplicated,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p90_ms": round(percentile(latencies, 90), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "min_ms": round(min(latencies), 1) if latencies else None,
        "server_cpu_ms_per_call": round(server_cpu * 1000 / calls, 1),
        "dropped_slow": hub_after["dropped_slow"], "hub_lag_s": hub_after["lag_seconds"],
        "failures": failures[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--rate", type=float, default=2.0, help="calls per second")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--deflate", action="store_true",
                        help="boards offer permessage-deflate, as browsers do")
    args = parser.parse_args()
    result = run(args.boards, args.calls, args.rate, args.workers, args.deflate)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    ok = result["missed"] == 0 and result["duplicated"] == 0
    print(f"\n{args.boards} boards, {args.calls} calls at {args.rate}/s: "
          f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
          f"missed {result['missed']}, duplicated {result['duplicated']} "
          f"→ {'OK' if ok and (result['p99_ms'] or 1e9) <= 100 else 'MISSES TARGET'}")


if __name__ == "__main__":
    main()
