"""Benchmark the audit trail's cost on the hot path: ticket issues/s with it on vs off.

One command:  .venv/bin/python benchmarks/bench_audit.py [--seconds 5] [--rounds 3]
                                                        [--concurrency 32]

It starts its own redis-server (AOF on, fsync every second, as deployed) and, in this
process, runs C concurrent kiosks issuing tickets through ``TicketStore.issue`` (the
same code the API runs: one ``issue.lua`` round trip, which with the trail on also
extends the hall's hash chain) for D seconds, alternately with the trail off and on,
for R rounds (alternating, so a load change on a shared machine hits both alike). Each
issue runs inside a request context (``hall.audit_store.Acting``) as the kiosk's request
would. It prints issues/s, p50/p99 latency per mode, the ratio of the medians, the script's
own time in Redis (``INFO commandstats``, the least noisy figure on a shared machine), and
then, serially, CPU per issue (this process + the Redis server) in alternating blocks of
100 issues, the median of the blocks' on/off ratios: the steadiest figure on a shared
machine. It checks the trail afterwards: one entry per issue, the chain intact.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hall import audit_store  # noqa: E402
from hall.audit_store import Acting, AuditTrail  # noqa: E402
from hall.config import bundled_hall_files, load_halls  # noqa: E402
from hall.redis_server import redis_server_binary  # noqa: E402
from ticketing.model import Channel  # noqa: E402
from ticketing.store import TicketStore  # noqa: E402

MATTERS = ("QY-KB", "SB-CB", "YB-BX", "BDC-DJ")


def start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
         str(folder), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


async def kiosk(store: TicketStore, until: float, latencies: list[float], n: int) -> None:
    token = audit_store._current.set(Acting(source=f"10.0.0.{n}", method="POST",
                                            path="/api/halls/district/tickets",
                                            hall="district", named_actor=f"kiosk-{n}",
                                            named_role="kiosk"))
    try:
        i = n
        while time.perf_counter() < until:
            sent = time.perf_counter()
            await store.issue("district", MATTERS[i % len(MATTERS)], Channel.KIOSK)
            latencies.append(time.perf_counter() - sent)
            i += 1
    finally:
        audit_store._current.reset(token)


async def server_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


BLOCK = 100


async def run(url: str, seconds: float, rounds: int, concurrency: int, blocks: int) -> int:
    halls = load_halls(bundled_hall_files())
    cfg = halls["district"]
    halls["district"] = dataclasses.replace(cfg, rules=dataclasses.replace(
        cfg.rules, max_ticket_per_day_per_queue=10**7))
    redis = Redis.from_url(url)
    store = TicketStore(redis, halls, time.time)
    trail = AuditTrail(redis, {h: c.tz for h, c in halls.items()})
    rates: dict[str, list[float]] = {"off": [], "on": []}
    script_us: dict[str, list[float]] = {"off": [], "on": []}
    lat: dict[str, list[float]] = {"off": [], "on": []}
    # CPU per issue, this process (Python: the app's side) and the Redis server: on a
    # shared machine the least noisy figure of what the trail costs
    py_cpu: dict[str, list[float]] = {"off": [], "on": []}
    redis_cpu: dict[str, list[float]] = {"off": [], "on": []}
    issued_on = 0
    await redis.flushdb()
    for r in range(rounds):
        for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
            store.audit = trail if mode == "on" else None
            latencies: list[float] = []
            await redis.config_resetstat()
            server_before = await server_cpu(redis)
            until = time.perf_counter() + seconds
            started, cpu_started = time.perf_counter(), time.process_time()
            await asyncio.gather(*(kiosk(store, until, latencies, n) for n in range(concurrency)))
            elapsed = time.perf_counter() - started
            py_cpu[mode].append((time.process_time() - cpu_started) / len(latencies))
            redis_cpu[mode].append((await server_cpu(redis) - server_before) / len(latencies))
            rates[mode].append(len(latencies) / elapsed)
            stats = await redis.info("commandstats")
            script_us[mode].append(float(stats.get("cmdstat_evalsha", {}).get("usec_per_call", 0)))
            lat[mode].extend(latencies)
            if mode == "on":
                issued_on += len(latencies)
            print(f"round {r + 1} {mode:>3}: {len(latencies) / elapsed:8.0f} issues/s, "
                  f"issue.lua {script_us[mode][-1]:.1f} µs in Redis, CPU per issue "
                  f"{py_cpu[mode][-1] * 1e6:.0f} µs Python + {redis_cpu[mode][-1] * 1e6:.0f} µs "
                  "Redis", flush=True)
    # CPU per issue, serially, in short alternating blocks: on a shared machine the load
    # changes slowly against a block of a few hundred milliseconds, so the median of the
    # blocks' on/off ratios is the steadiest figure this machine can give
    serial: dict[str, list[float]] = {"off": [], "on": []}
    token = audit_store._current.set(Acting(
        source="10.0.0.1", method="POST", path="/api/halls/district/tickets", hall="district",
        named_actor="kiosk-1", named_role="kiosk"))
    try:
        for block in range(blocks):
            for mode in (("off", "on") if block % 2 == 0 else ("on", "off")):
                store.audit = trail if mode == "on" else None
                server_before, cpu_started = await server_cpu(redis), time.process_time()
                for i in range(BLOCK):
                    await store.issue("district", MATTERS[i % len(MATTERS)], Channel.KIOSK)
                spent = time.process_time() - cpu_started + await server_cpu(redis) \
                    - server_before
                serial[mode].append(spent / BLOCK)
                if mode == "on":
                    issued_on += BLOCK
    finally:
        audit_store._current.reset(token)
    ratios = sorted(on / off for on, off in zip(serial["on"], serial["off"], strict=True))
    entries, broken = await trail.verify("district")
    await redis.aclose()
    print()
    print("| trail | issues/s (median of rounds) | p50 | p99 | issue.lua in Redis "
          "| CPU per issue: Python + Redis |")
    print("|---|---|---|---|---|---|")
    cpu: dict[str, float] = {}
    for mode in ("off", "on"):
        q = statistics.quantiles(lat[mode], n=100)
        py, rd = statistics.median(py_cpu[mode]) * 1e6, statistics.median(redis_cpu[mode]) * 1e6
        cpu[mode] = py + rd
        print(f"| {mode} | {statistics.median(rates[mode]):,.0f} | {q[49] * 1000:.2f} ms | "
              f"{q[98] * 1000:.2f} ms | {statistics.median(script_us[mode]):.1f} µs | "
              f"{py:.0f} + {rd:.0f} = {py + rd:.0f} µs |")
    cost = 1 - statistics.median(rates["on"]) / statistics.median(rates["off"])
    print(f"\ncost of the audit trail: {cost * 100:.1f} % of issue throughput "
          f"(target ≤ 10 %); rounds: {rates}")
    print(f"cost in CPU per issue (both processes, concurrent rounds): "
          f"{(cpu['on'] / cpu['off'] - 1) * 100:.1f} %")
    print(f"cost in CPU per issue (both processes, {blocks} serial blocks of {BLOCK} issues "
          f"each way): median {(statistics.median(ratios) - 1) * 100:.1f} %, quartiles "
          f"{(ratios[len(ratios) // 4] - 1) * 100:.1f} … "
          f"{(ratios[3 * len(ratios) // 4] - 1) * 100:.1f} %; CPU per issue off "
          f"{statistics.median(serial['off']) * 1e6:.0f} µs, on "
          f"{statistics.median(serial['on']) * 1e6:.0f} µs (medians); the least-loaded "
          f"blocks: off {min(serial['off']) * 1e6:.0f} µs, on {min(serial['on']) * 1e6:.0f} µs"
          f" = {(min(serial['on']) / min(serial['off']) - 1) * 100:.1f} %")
    print(f"trail: {entries} entries for {issued_on} issues with it on; "
          f"chain {'intact' if broken is None else f'BROKEN at {broken}'}")
    return 0 if broken is None and entries == issued_on else 1


def entry_cost() -> int:
    """Only the Python cost of an issue's audit entry (``TicketStore._audit_issue``): the
    best of 15 × 2,000 calls, which a loaded machine barely moves. No Redis is touched."""
    import timeit

    from ticketing.model import Step, Ticket

    halls = load_halls(bundled_hall_files())
    redis = Redis()  # never connected: building the arguments needs no server
    store = TicketStore(redis, halls, time.time)
    store.audit = AuditTrail(redis, {h: c.tz for h, c in halls.items()})
    audit_store._current.set(Acting(source="10.0.0.1", method="POST", path="/x",
                                    hall="district", named_actor="kiosk-1",
                                    named_role="kiosk"))
    now = time.time()
    ticket = Ticket(id="abc", hall="district", day=time.strftime("%Y%m%d"), queue="A",
                    matter="QY-KB", channel=Channel.KIOSK, issued_at=now, enqueued_at=now,
                    history=(Step(now, "issued"),))
    best = min(timeit.repeat(lambda: store._audit_issue("district", ticket),
                             number=2000, repeat=15)) / 2000
    print(f"building an issue's audit entry and its script arguments: {best * 1e6:.1f} µs "
          "(best of 15 × 2,000 calls)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=40,
                        help="serial blocks of 100 issues each way (CPU per issue)")
    parser.add_argument("--entry-only", action="store_true",
                        help="only the Python cost of building an issue's entry (steady)")
    args = parser.parse_args()
    if args.entry_only:
        return entry_cost()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        proc = start_redis(Path(folder), port)
        try:
            return asyncio.run(run(f"redis://127.0.0.1:{port}/0", args.seconds, args.rounds,
                                   args.concurrency, args.blocks))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
