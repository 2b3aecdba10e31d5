"""Benchmark a booking release: many citizens booking one day's slots at the same moment.

One command:  .venv/bin/python benchmarks/bench_booking.py

It starts its own redis-server (AOF everysec) and two ``hall serve`` processes with a copy
of the district hall whose ``[appointments]`` lets one address send many requests (all
clients come from 127.0.0.1 here) and asks a light proof of work (the clients solve it
before the release, as a page does while its citizen types). Then C clients (default
2,000), each on its own keep-alive connection spread over the two processes:

1. read the day's slots of a matter and fetch a challenge, and solve it (not measured);
2. at one instant, all send their booking for a slot that was free at the release, each
   with its own identity (a mobile number); latency is measured per request from the
   moment it was written to the moment its answer was read.

Figures: requests answered per second over the burst, bookings made, p50/p99/max latency,
oversold (bookings beyond a slot's capacity, from Redis and from the event stream: must
be 0), and fairness: of the pairs (booked, refused), how many were refused although sent
more than ``--precision`` ms earlier than the one booked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import redis  # noqa: E402
from bench_core import Stack, cpu_seconds  # noqa: E402
from loadgen import Connection, Timings, now  # noqa: E402

from hall import pow  # noqa: E402
from hall.config import bundled_hall_files, load_hall  # noqa: E402
from ticketing.appointments import AppointmentKeys  # noqa: E402
from ticketing.calendars import hall_calendar  # noqa: E402

HALL = "bench1"
MATTERS = ["YB-BX", "SB-CB", "SB-YLJ", "CJ-CJ", "SW-FP", "GJJ-TQ", "QY-KB", "JY-DJ"]
APPOINTMENTS = """
[appointments]
pow_bits = {bits}
requests_per_minute = 100000
"""


def bench_hall(folder: Path, bits: int) -> Path:
    district = next(p for p in bundled_hall_files() if Path(p).stem == "district")
    text = Path(district).read_text(encoding="utf-8")
    text = re.sub(r'(?m)^id = "district"$', f'id = "{HALL}"', text)
    path = folder / f"{HALL}.toml"
    path.write_text(text + APPOINTMENTS.format(bits=bits), encoding="utf-8")
    return path


def release_day(hall_file: Path) -> Any:
    cal = hall_calendar(load_hall(hall_file))
    day = cal.local(time.time()).date() + timedelta(days=1)
    while not cal.periods_on(day):
        day += timedelta(days=1)
    return day


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-booking-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        hall_file = bench_hall(folder, args.bits)
        os.environ["HALL_IDENTITY_SECRET"] = "bench-identity-secret"
        stack = Stack(folder, 2, [hall_file], "everysec").start()
        try:
            return await measure(stack, hall_file, args)
        finally:
            stack.stop()


async def measure(stack: Stack, hall_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    day = release_day(hall_file).isoformat()
    clients = args.clients
    setup = [await Connection("127.0.0.1", stack.ports[i % 2]).open() for i in range(20)]
    # what the clients see at the release: every matter's free slots
    free: dict[str, list[str]] = {}
    capacity: dict[tuple[str, str], int] = {}
    for matter in MATTERS:
        status, body = await setup[0].request(
            "GET", f"/api/halls/{HALL}/appointments/slots?matter={matter}&day={day}")
        assert status == 200, body
        free[matter] = [s["slot"] for s in body["slots"] if s["free"] > 0 and s["open"]]
        capacity.update({(matter, s["slot"]): s["capacity"] for s in body["slots"]})
    places = sum(capacity.values())
    matters = [m for m in MATTERS if free[m]]
    rng = random.Random(1)
    challenges: list[str] = []

    async def fetch(conn: Connection, count: int) -> None:
        for _ in range(count):
            _, body = await conn.request("GET", f"/api/halls/{HALL}/appointments/challenge")
            challenges.append(body["challenge"])

    await asyncio.gather(*(fetch(c, -(-clients // len(setup))) for c in setup))
    applied_bits = int(challenges[0].split(".")[1])
    bodies = []
    for i in range(clients):
        matter = rng.choice(matters)
        bodies.append({"matter": matter, "day": day, "slot": rng.choice(free[matter]),
                       "name": "压测", "phone": f"13{i:09d}", "challenge": challenges[i],
                       "solution": pow.solve(challenges[i])})
    # warm-up at the same concurrency: each app process opens its Redis connections once
    # (a pool grows on a burst and keeps them), as it has in a hall open for some time
    path = f"/api/halls/{HALL}/appointments/slots?matter={MATTERS[0]}&day={day}"

    async def warm(i: int) -> None:
        conn = await Connection("127.0.0.1", stack.ports[i % 2]).open()
        await conn.request("GET", path)
        conn.close()

    await asyncio.gather(*(warm(i) for i in range(clients)))
    for conn in setup:
        conn.close()
    timings = Timings()
    sent: list[float] = [0.0] * clients
    outcome: list[tuple[int, str]] = [(0, "")] * clients
    go = asyncio.Event()

    async def client(i: int) -> None:
        # a citizen's phone connects at the release: latency counts from the connect
        await go.wait()
        sent[i] = now()
        conn = await Connection("127.0.0.1", stack.ports[i % 2]).open()
        status, body = await conn.request("POST", f"/api/halls/{HALL}/appointments", bodies[i])
        timings.add(now() - sent[i])
        conn.close()
        code = (body or {}).get("error", {}).get("code", "") if status != 201 else ""
        outcome[i] = (status, code)
        if status not in (201, 409):
            timings.error(status)

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.sleep(0.2)
    app_cpu = cpu_seconds(stack.app_pids())
    redis_cpu = cpu_seconds([stack.processes[0].pid])
    timings.started = now()
    go.set()
    await asyncio.gather(*tasks)
    timings.ended = now()
    app_cpu = cpu_seconds(stack.app_pids()) - app_cpu
    redis_cpu = cpu_seconds([stack.processes[0].pid]) - redis_cpu

    booked = [i for i, (s, _) in enumerate(outcome) if s == 201]
    refused = [i for i, (s, c) in enumerate(outcome) if s == 409 and c == "slot_full"]
    other = {f"{s} {c}": sum(1 for o in outcome if o == (s, c)) for s, c in set(outcome)
             if s not in (201,) and c != "slot_full"}
    # oversold, from Redis: every slot's count and the day's booking records
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    keys = AppointmentKeys(HALL)
    day_key = day.replace("-", "")
    oversold = 0
    for matter in MATTERS:
        for slot, held in r.hgetall(keys.slots(day_key, matter)).items():
            oversold += max(0, int(held) - capacity.get((matter, slot), 0))
    records: dict[tuple[str, str], int] = {}
    for booking_id in r.zrange(keys.day(day_key), 0, -1):
        data = json.loads(r.hget(keys.booking(booking_id), "json") or "{}")
        records[(data["matter"], data["slot"])] = records.get((data["matter"], data["slot"]), 0) + 1
    oversold_records = sum(max(0, n - capacity.get(k, 0)) for k, n in records.items())
    # fairness: refused although sent clearly earlier than someone booked for the same slot
    precision = args.precision / 1000
    unfair = pairs = 0
    by_slot: dict[tuple[str, str], list[int]] = {}
    for i in range(clients):
        by_slot.setdefault((bodies[i]["matter"], bodies[i]["slot"]), []).append(i)
    for members in by_slot.values():
        ok = [i for i in members if outcome[i][0] == 201]
        ko = [i for i in members if outcome[i][1] == "slot_full"]
        for s in ok:
            for f in ko:
                pairs += 1
                unfair += sent[f] + precision < sent[s]
    summary = timings.summary()
    return {
        "clients": clients, "day": day, "pow_bits_applied": applied_bits,
        "places": places, "booked": len(booked), "refused_full": len(refused), "other": other,
        "answered_per_s": summary["per_s"], "bookings_per_s": round(
            len(booked) / (timings.ended - timings.started), 1),
        "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"],
        "burst_seconds": round(timings.ended - timings.started, 3),
        "send_spread_ms": round((max(sent) - min(sent)) * 1000, 1),
        "oversold": oversold, "oversold_records": oversold_records,
        "fairness": {"pairs": pairs, "unfair": unfair, "precision_ms": args.precision},
        "app_cpu_ms_per_request": round(app_cpu * 1000 / clients, 2),
        "redis_cpu_ms_per_request": round(redis_cpu * 1000 / clients, 3),
        # what two idle cores could answer if the app's CPU were the only limit
        "projected_per_s_on_2_idle_cores": round(2 * clients / max(app_cpu + redis_cpu, 1e-9)),
        "load_1min": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=8, help="proof-of-work bits of the hall")
    parser.add_argument("--precision", type=float, default=5.0, help="fairness precision, ms")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", help="keep the run's folder (logs) here")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["oversold"] == 0 and result["oversold_records"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
