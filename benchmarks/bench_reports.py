"""Benchmark reports and the live dashboard.

One command:  .venv/bin/python benchmarks/bench_reports.py

1. report:    builds 90 days of a busy district hall (about 2,000 tickets a day, with
              waits, services, no-shows, transfers, cancellations and ratings), rolls each
              day up with the real aggregate code into a real redis-server, then times a
              90-day report: in-process (ReportStore.report) and over HTTP from a real
              ``hall serve`` (JSON, and CSV). Target: ≤ 1 s.
2. dashboard: the same ``hall serve`` process, with 0, N1 and N2 emulated dashboards
              connected (each one does what displays/static/dashboard.js does: listen on
              /ws/halls/district, re-read /api/halls/district/dashboard at most once per
              150 ms after events, and today's figures 5 s after a ticket event),
              while tickets are issued, called and finished at a steady rate. Reports the
              server's CPU seconds per wall second (from /proc) and the extra CPU per
              connected dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import websockets
from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hall.auth import Role  # noqa: E402
from hall.config import bundled_hall_files, load_halls  # noqa: E402
from tests.support import AppProcess, RedisServer  # noqa: E402
from ticketing import reports  # noqa: E402
from ticketing.model import Channel, Step, Ticket, TicketStatus  # noqa: E402
from ticketing.report_store import agg_days_key, agg_key  # noqa: E402

PASSWORD = "benchmark-password"
LEVELS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
          "very_dissatisfied")


def synth_day(cfg: Any, day: date, n: int, rng: random.Random) -> tuple[list[Ticket], dict]:
    """A plausible busy day: arrivals over opening hours, waits, services, outcomes."""
    tz = cfg.tz
    open_at = datetime.combine(day, datetime.min.time(), tz).timestamp() + 9 * 3600
    staff = [s.id for s in cfg.staff if s.role == "clerk"]
    tickets, levels = [], {}
    for i in range(n):
        matter = rng.choice(cfg.matters)
        issued = open_at + rng.uniform(0, 8 * 3600)
        window = rng.randint(1, 12)
        clerk = rng.choice(staff)
        wait = rng.expovariate(1 / 600)
        service = rng.expovariate(1 / (matter.expected_minutes * 60))
        called = issued + wait
        roll = rng.random()
        hist = [Step(issued, "issued"), Step(called, "called", window, clerk)]
        kw: dict[str, Any] = {}
        if roll < 0.03:
            status = TicketStatus.NO_SHOW
            hist.append(Step(called + 60, "no_show", window, clerk))
        elif roll < 0.05:
            status, hist = TicketStatus.CANCELLED, [Step(issued, "issued"),
                                                    Step(issued + 300, "cancelled")]
            window, clerk = None, None
        else:
            status = TicketStatus.DONE
            if roll < 0.08:
                hist.append(Step(called + 120, "transferred", window, clerk))
                kw["transferred"] = True
                window, clerk = rng.randint(6, 11), rng.choice(staff)
            kw.update(serving_at=called + 30, done_at=called + 30 + service)
            if rng.random() < 0.9:
                levels[f"t{i}"] = rng.choices(LEVELS, weights=(60, 25, 10, 4, 1))[0]
        tickets.append(Ticket(
            id=f"t{i}", hall=cfg.id, day=day.strftime("%Y%m%d"), queue=matter.queue,
            matter=matter.code, channel=Channel.KIOSK, issued_at=issued, enqueued_at=issued,
            number=f"{matter.queue}{i:03d}", status=status, window=window, clerk=clerk,
            history=tuple(hist), **kw))
    return tickets, levels


def build_history(url: str, days: int, per_day: int) -> tuple[date, date]:
    cfg = load_halls(bundled_hall_files())["district"]
    rng = random.Random(6)
    client = redis.Redis.from_url(url)
    last = date(2026, 11, 17)
    first = last - timedelta(days=days - 1)
    started = time.perf_counter()
    for i in range(days):
        day = first + timedelta(days=i)
        tickets, levels = synth_day(cfg, day, int(rng.gauss(per_day, per_day * 0.1)), rng)
        agg = reports.aggregate_day(
            day.strftime("%Y%m%d"), tickets, levels, now=time.time(), tz=cfg.tz,
            issue_queue={m.code: m.queue for m in cfg.matters},
            rating_period_minutes=cfg.rules.rating_period_minutes,
            unrated_counts_as=cfg.rules.unrated_counts_as)
        key = day.strftime("%Y%m%d")
        client.set(agg_key("district", key), json.dumps(agg, separators=(",", ":")))
        client.zadd(agg_days_key("district"), {key: int(key)})
    size = sum(client.strlen(agg_key("district", (first + timedelta(days=i)).strftime("%Y%m%d")))
               for i in range(days))
    print(f"built {days} days (~{per_day} tickets/day) in {time.perf_counter() - started:.1f} s;"
          f" aggregates {size / 1e6:.1f} MB in Redis")
    return first, last


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: p50 {pct(values, .5) * 1000:.0f} ms, p95 {pct(values, .95) * 1000:.0f} ms,"
            f" max {max(values) * 1000:.0f} ms (n={len(values)})")


async def time_store(url: str, first: date, last: date, runs: int) -> list[float]:
    from ticketing.report_store import ReportStore
    from ticketing.store import TicketStore

    client = AsyncRedis.from_url(url)
    store = TicketStore(client, load_halls(bundled_hall_files()), time.time)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        report = await ReportStore(client, store).report("district", first, last)
        out.append(time.perf_counter() - t)
    await client.aclose()
    print(f"  90-day total: issued {report['total']['issued']}, served {report['total']['served']}"
          f", wait P90 {report['total']['wait_p90_s']} s")
    return out


def manager_token(url: str, base: str) -> str:
    from tests.e2e.live import add_privileged, privileged_token

    return privileged_token(base, "bench-mgr", add_privileged(url, "bench-mgr"))


def time_http(base: str, token: str, first: date, last: date, runs: int, fmt: str) -> list[float]:
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        for _ in range(runs):
            t = time.perf_counter()
            r = c.get(f"/api/halls/district/reports?from={first}&to={last}&format={fmt}")
            r.raise_for_status()
            out.append(time.perf_counter() - t)
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def dashboard(base: str, token: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """One emulated dashboard page: socket + debounced re-reads, like dashboard.js."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c, \
            websockets.connect(base.replace("http", "ws") + "/ws/halls/district") as ws:
        await c.get("/api/halls/district/dashboard")
        await c.get("/api/halls/district/dashboard/today")
        live_due = today_due = None
        while not stop.is_set():
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
                counts["events"] += 1
                live_due = live_due or time.monotonic() + 0.15
                if msg.get("type") in ("ticket.issued", "ticket.done"):
                    today_due = today_due or time.monotonic() + 5.0
            except TimeoutError:
                pass
            if live_due and time.monotonic() >= live_due:
                live_due = None
                await c.get("/api/halls/district/dashboard")
                counts["live"] += 1
            if today_due and time.monotonic() >= today_due:
                today_due = None
                await c.get("/api/halls/district/dashboard/today")
                counts["today"] += 1


async def hall_activity(base: str, url: str, stop: asyncio.Event, rate: float) -> None:
    """Tickets issued at ``rate``/s; clerks at windows 1-5 call, start and finish them."""
    from tests.e2e.live import add_clerk, add_device

    kiosk = {"Authorization": f"Bearer {await asyncio.to_thread(add_device, url, Role.KIOSK)}"}
    clerks = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for n, sid in enumerate(("S01", "S02", "S03", "S04", "S05"), start=1):
            user = await asyncio.to_thread(add_clerk, url, sid)
            tok = (await c.post("/api/login", json={"username": user,
                                                    "password": "correct horse battery"})
                   ).json()["token"]
            h = {"Authorization": f"Bearer {tok}"}
            await c.post(f"/api/halls/district/windows/{n}/login", headers=h)
            clerks.append((n, h))
        i = 0
        while not stop.is_set():
            await c.post("/api/halls/district/tickets", json={"matter": "QY-KB"}, headers=kiosk)
            n, h = clerks[i % len(clerks)]
            r = await c.post(f"/api/halls/district/windows/{n}/call-next", headers=h)
            if r.json().get("ticket"):
                await c.post(f"/api/halls/district/windows/{n}/start", headers=h)
                await c.post(f"/api/halls/district/windows/{n}/finish", headers=h)
            i += 1
            await asyncio.sleep(1 / rate)


async def measure_dashboards(app: AppProcess, url: str, token: str, n: int, seconds: float,
                             rate: float) -> dict[str, float]:
    stop = asyncio.Event()
    counts = {"events": 0, "live": 0, "today": 0}
    pid = app.process.pid if app.process else 0
    tasks = [asyncio.create_task(dashboard(app.base_url, token, stop, counts)) for _ in range(n)]
    await asyncio.sleep(1.0)
    activity = asyncio.create_task(hall_activity(app.base_url, url, stop, rate))
    await asyncio.sleep(1.0)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    stop.set()
    await asyncio.gather(activity, *tasks, return_exceptions=True)
    return {"dashboards": n, "cpu_per_s": (c1 - c0) / (t1 - t0), **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dashboards", default="0,5,20")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=4.0, help="tickets issued per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        app = None
        try:
            first, last = build_history(server.url, args.days, args.per_day)
            print("report, in process:")
            print("  " + summary("ReportStore.report", asyncio.run(
                time_store(server.url, first, last, args.runs))))
            app = AppProcess(server.url, log_path=Path(tmp) / "app.log").start()
            token = manager_token(server.url, app.base_url)
            print("report over HTTP from hall serve:")
            for fmt in ("json", "csv"):
                print("  " + summary(f"GET /reports ({fmt})",
                                     time_http(app.base_url, token, first, last, args.runs, fmt)))
            print(f"dashboards (hall activity: {args.rate:g} tickets/s issued and served):")
            base_cpu = None
            for n in (int(x) for x in args.dashboards.split(",")):
                m = asyncio.run(measure_dashboards(app, server.url, token, n, args.seconds,
                                                   args.rate))
                extra = "" if base_cpu is None or n == 0 else \
                    f", extra per dashboard {(m['cpu_per_s'] - base_cpu) / n * 1000:.1f} ms CPU/s"
                if n == 0:
                    base_cpu = m["cpu_per_s"]
                print(f"  {n:3d} dashboards: server CPU {m['cpu_per_s'] * 100:.1f}% of a core"
                      f" ({m['live']} live re-reads, {m['today']} today re-reads){extra}")
        finally:
            if app:
                app.stop()
            server.stop()


if __name__ == "__main__":
    main()
