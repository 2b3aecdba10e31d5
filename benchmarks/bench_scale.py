"""Benchmark the production shape: issue throughput through nginx with 1 vs 2 app processes,
and the time the app needs to recover after a Redis failover.

One command:  .venv/bin/python benchmarks/bench_scale.py  [--seconds 10] [--conns 16]
              [--failovers 3]

The processes are the ones compose.yaml describes, started locally exactly as the
deployment tests start them (tests/e2e/deployment.py): redis-server with the compose
options (AOF everysec, password), ``hall serve`` ×N with the compose environment
(JSON logs, one access line per request), nginx with deploy/nginx.conf. The district
hall is used with its daily limit raised so the run does not sell out.

1. throughput: C keep-alive connections to nginx issue tickets as fast as answered for
   D seconds (closed loop, benchmarks/loadgen.py); per second, p50/p90/p99 latency; then
   the same with 2 app processes, and the ratio.
2. failover: primary + replica + 3 sentinels (deploy/sentinel.conf: down-after 3 s), one
   app through Sentinel with REDIS_WAIT_REPLICAS=1; 2 connections issue continuously;
   the primary is SIGKILLed; recovery = kill → first acknowledged issue after the last
   refused one. Repeated F times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("HALL_ALWAYS_OPEN", "1")  # throughput, whatever the hour

from loadgen import Connection, Timings, now  # noqa: E402

from hall.config import bundled_hall_files  # noqa: E402
from tests.e2e.deployment import (  # noqa: E402
    Deployment,
    start_redis,
    start_sentinel_group,
    wait_replica_online,
    wait_until,
)
from tests.support import free_port  # noqa: E402

HALL = "district"


def hall_file(folder: Path) -> Path:
    district = next(p for p in bundled_hall_files() if Path(p).stem == HALL)
    text = Path(district).read_text(encoding="utf-8")
    text = text.replace("[rules]\n", "[rules]\nmax_ticket_per_day_per_queue = 1000000\n", 1)
    path = folder / "district.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def issue_loop(port: int, token: str, seconds: float, conns: int) -> Timings:
    timings = Timings()
    stop_at = now() + seconds

    async def worker() -> None:
        conn = await Connection("127.0.0.1", port).open()
        try:
            while now() < stop_at:
                started = now()
                status, _ = await conn.request("POST", f"/api/halls/{HALL}/tickets",
                                               {"matter": "QY-KB"}, token)
                if status == 201:
                    timings.add(now() - started)
                else:
                    timings.error(status)
        finally:
            conn.close()

    timings.started = now()
    await asyncio.gather(*(worker() for _ in range(conns)))
    timings.ended = now()
    return timings


def throughput(apps: int, seconds: float, conns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = Path(tmp)
        d = Deployment(folder, apps=apps, worker=False,
                       extra_env={"HALL_FILES": str(hall_file(folder))})
        d.start()
        try:
            _, token = d.credentials()
            asyncio.run(issue_loop(d.proxy_port, token, 2.0, conns))  # warm up
            result = asyncio.run(issue_loop(d.proxy_port, token, seconds, conns)).summary()
        finally:
            d.stop()
    return {"apps": apps, **result}


def wait_cost(seconds: float, conns: int, replicas: int) -> dict[str, Any]:
    """1 app through nginx on a primary with one replica; WAIT for ``replicas`` acks."""
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        folder = Path(tmp)
        d = Deployment(folder, apps=1, worker=False, own_redis=False,
                       extra_env={"HALL_FILES": str(hall_file(folder)),
                                  "REDIS_WAIT_REPLICAS": str(replicas)})
        procs = [start_redis(d.services["redis"], d.redis_port, folder / "primary", None),
                 start_redis(d.services["redis-replica"], free_port(), folder / "replica",
                             d.redis_port)]
        try:
            wait_replica_online(d.redis_port)
            d.start()
            _, token = d.credentials()
            asyncio.run(issue_loop(d.proxy_port, token, 2.0, conns))
            result = asyncio.run(issue_loop(d.proxy_port, token, seconds, conns)).summary()
        finally:
            d.stop()
            for proc in reversed(procs):
                proc.stop()
    return {"wait_replicas": replicas, **result}


def failover_once() -> dict[str, Any]:
    import threading

    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
        folder = Path(tmp)
        d = Deployment(folder, apps=1, own_redis=False, worker=False, proxy=False)
        group = start_sentinel_group(d.services, folder)
        procs = group.procs
        try:
            d.extra_env.update(REDIS_SENTINELS=group.sentinels, REDIS_WAIT_REPLICAS="1")
            d.start()
            app = d.app_procs[0]
            _, token = d.credentials()
            ok: list[float] = []
            refused: list[float] = []
            halt = threading.Event()

            def run() -> None:
                with httpx.Client(timeout=20) as client:
                    while not halt.is_set():
                        try:
                            r = client.post(f"{app.url}/api/halls/{HALL}/tickets",
                                            json={"matter": "QY-KB"},
                                            headers={"Authorization": f"Bearer {token}"})
                            (ok if r.status_code == 201 else refused).append(time.monotonic())
                        except httpx.HTTPError:
                            refused.append(time.monotonic())
                        time.sleep(0.01)

            threads = [threading.Thread(target=run, daemon=True) for _ in range(2)]
            for t in threads:
                t.start()
            time.sleep(2.0)
            killed = time.monotonic()
            procs[0].signal(signal.SIGKILL)
            wait_until(lambda: refused and ok[-1] > max(refused) + 2, 40, "recovery")
            halt.set()
            for t in threads:
                t.join(timeout=30)
            last_refused = max(refused)
            first_ok = min(t for t in ok if t > last_refused)
            return {"recovery_s": round(first_ok - killed, 2),
                    "refused": len(refused), "acknowledged": len(ok)}
        finally:
            d.stop()
            group.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--wait-cost", action="store_true",
                        help="also: 1 app with a replica, REDIS_WAIT_REPLICAS 0 vs 1")
    args = parser.parse_args()
    if args.wait_cost:
        for replicas in (0, 1):
            print(json.dumps(wait_cost(args.seconds, args.conns, replicas)), flush=True)
    one = throughput(1, args.seconds, args.conns)
    print(json.dumps(one), flush=True)
    two = throughput(2, args.seconds, args.conns)
    print(json.dumps(two), flush=True)
    ratio = two["per_s"] / one["per_s"] if one["per_s"] else float("nan")
    print(json.dumps({"scaling_ratio_2_over_1": round(ratio, 2)}), flush=True)
    runs = [failover_once() for _ in range(args.failovers)]
    for run in runs:
        print(json.dumps({"failover": run}), flush=True)
    if runs:
        times = [r["recovery_s"] for r in runs]
        print(json.dumps({"failover_recovery_s": {"median": statistics.median(times),
                                                  "max": max(times)}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
