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

``--wrk``: the same release driven by Debian's wrk (C, so the client does not take the
app's CPU) instead of the Python clients: the two app processes share ONE port
(``hall serve --reuse-port``, ``bench_throughput.Stack``), ``wrk -t2 -c C -d S --latency``
posts prepared booking bodies (each its own identity and its own challenge, minted with the
deployment secret and solved before the run, at the hall file's benchmark-only
``pow_bits``), all for one day's slots. Every answer is a claim (``claim.lua``): 201 booked
or 409 ``slot_full`` once the day is full. Figures: answered/s, p50/p99 (wrk's, on keep-alive
connections: no connect in the latency), status counts, oversold; fairness is not measured
(wrk keeps no send times).
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
    oversold, oversold_records = _oversold(stack.redis_url, day, capacity)
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


WRK_LUA = """
local bodies = {}
local counts = {}
local threads = {}
local next_id = 0
setup = function(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
init = function(args)
  local path, nthreads = args[1], tonumber(args[2])
  local k = 0
  for line in io.lines(path) do
    if k % nthreads == id then table.insert(bodies, line) end
    k = k + 1
  end
  i = 0
  ok, full, other, reused = 0, 0, 0, 0
end
request = function()
  i = i + 1
  if i > #bodies then reused = reused + 1 end  -- out of bodies: a used challenge (400)
  local body = bodies[(i - 1) % #bodies + 1]
  return wrk.format("POST", PATH, {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status == 201 then ok = ok + 1
  elseif status == 409 and string.find(body, "slot_full", 1, true) then full = full + 1
  else
    other = other + 1
    if other <= 3 then io.write("OTHER " .. status .. " " .. string.sub(body, 1, 160) .. "\\n") end
  end
end
done = function(summary, latency, requests)
  local t = {ok = 0, full = 0, other = 0, reused = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  io.write(string.format("COUNTS ok=%d full=%d other=%d reused=%d\\n", t.ok, t.full, t.other,
                         t.reused))
end
"""


def run_wrk(args: argparse.Namespace) -> dict[str, Any]:
    import shutil

    from bench_throughput import Cpu, parse_wrk, run_child
    from bench_throughput import Stack as SharedPortStack

    with tempfile.TemporaryDirectory(prefix="bench-booking-wrk-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        hall_file = bench_hall(folder, args.bits)
        secret = "bench-identity-secret"
        os.environ["HALL_IDENTITY_SECRET"] = secret
        stack = SharedPortStack(folder, 2, [hall_file], "everysec").start()
        try:
            day = release_day(hall_file).isoformat()
            capacity: dict[tuple[str, str], int] = {}
            free: dict[str, list[str]] = {}
            import httpx
            for matter in MATTERS:
                body = httpx.get(f"{stack.base_url}/api/halls/{HALL}/appointments/slots",
                                 params={"matter": matter, "day": day}).json()
                free[matter] = [s["slot"] for s in body["slots"] if s["free"] > 0 and s["open"]]
                capacity.update({(matter, s["slot"]): s["capacity"] for s in body["slots"]})
            matters = [m for m in MATTERS if free[m]]
            rng = random.Random(1)
            lines = []
            minted = time.time()
            for i in range(args.bodies):
                challenge = pow.issue(secret.encode(), minted, args.bits)
                matter = rng.choice(matters)
                lines.append(json.dumps({
                    "matter": matter, "day": day, "slot": rng.choice(free[matter]),
                    "name": "压测", "phone": f"13{i:09d}", "challenge": challenge,
                    "solution": pow.solve(challenge)}, ensure_ascii=False))
            bodies = folder / "bodies.jsonl"
            bodies.write_text("\n".join(lines) + "\n", encoding="utf-8")
            script = folder / "book.lua"
            script.write_text(f'PATH = "/api/halls/{HALL}/appointments"\n' + WRK_LUA)
            wrk = shutil.which("wrk") or "/usr/bin/wrk"
            load_before = os.getloadavg()
            with Cpu(stack) as cpu:
                text, client_cpu = run_child(
                    [wrk, "-t2", f"-c{args.clients}", f"-d{args.seconds}s", "--timeout", "30s",
                     "--latency", "-s", str(script), stack.base_url, "--", str(bodies), "2"])
            figures = parse_wrk(text)
            counts = dict(re.findall(r"(\w+)=(\d+)", text.split("COUNTS", 1)[1]))
            oversold, oversold_records = _oversold(stack.redis_url, day, capacity)
            return {
                "generator": "wrk", "connections": args.clients, "seconds": args.seconds,
                "pow_bits_applied": args.bits, "day": day, "places": sum(capacity.values()),
                "answered_per_s": figures["per_s"], "answered": figures["requests"],
                "booked": int(counts["ok"]), "refused_full": int(counts["full"]),
                "other": int(counts["other"]), "bodies_reused": int(counts["reused"]),
                "p50_ms": figures.get("p50_ms"), "p90_ms": figures.get("p90_ms"),
                "p99_ms": figures.get("p99_ms"), "socket_errors": figures["socket_errors"],
                "oversold": oversold, "oversold_records": oversold_records,
                "app_cpu_ms_per_request": round(cpu.app * 1000 / max(figures["requests"], 1), 3),
                "redis_cpu_ms_per_request": round(
                    cpu.redis * 1000 / max(figures["requests"], 1), 3),
                "wrk_cpu_ms_per_request": round(
                    client_cpu * 1000 / max(figures["requests"], 1), 3),
                "load_before": [round(x, 2) for x in load_before],
                "load_1min_after": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
                "wrk_output": text}
        finally:
            stack.stop()


def _oversold(redis_url: str, day: str, capacity: dict[tuple[str, str], int]) -> tuple[int, int]:
    """Bookings beyond a slot's capacity: from the slot counts and from the records."""
    r = redis.Redis.from_url(redis_url, decode_responses=True)
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
    return oversold, sum(max(0, n - capacity.get(k, 0)) for k, n in records.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=8, help="proof-of-work bits of the hall")
    parser.add_argument("--precision", type=float, default=5.0, help="fairness precision, ms")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", help="keep the run's folder (logs) here")
    parser.add_argument("--wrk", action="store_true",
                        help="drive the release with wrk (--clients connections) instead")
    parser.add_argument("--seconds", type=int, default=10, help="wrk: duration")
    parser.add_argument("--bodies", type=int, default=20000,
                        help="wrk: prepared bookings (identities and solved challenges)")
    args = parser.parse_args()
    if args.wrk:
        result = run_wrk(args)
        print(result.pop("wrk_output"))
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
        return 0 if result["oversold"] == 0 and result["oversold_records"] == 0 else 1
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
