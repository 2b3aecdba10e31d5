"""Benchmark the hub's fan-out: N websocket boards, a clerk calling steadily.

One command:  .venv/bin/python benchmarks/bench_ws.py [--boards 1000] [--calls 120] [--rate 2]
5,000 boards over two processes behind nginx:
              .venv/bin/python benchmarks/bench_ws.py --boards 5000 --apps 2 --calls 60

It starts its own redis-server and ``--apps`` ``hall serve`` processes (with 2 or more, an
nginx in front with deploy/nginx.conf, rendered as tests/e2e/deployment.py does, and every
board and the clerk go through it; nginx's connection limit is raised for the run, see
RESULTS.md; nginx reaches each app on its own Unix socket, ``hall serve --uds``, or with
``--upstream tcp`` on its loopback port), issues the tickets, signs a clerk in at window
1, and opens N public board sockets (/ws/halls/district) from W client processes: by
default ``benchmarks/wsboards.c`` (built here with ``cc -O2``; epoll, a few µs per frame,
so the boards do not eat the server's cores), or ``--client python`` (the websockets
library on uvloop, the first version of this benchmark). Then the clerk calls at a steady
rate (call-next, then no-show so the window is free again; both events fan out to every
board). For every call and every board it records the time from the call's HTTP response
to the board receiving ``ticket.called`` (wall clock, one machine), and reports p50 / p99
/ max, plus missed and duplicated events (both must be 0), server CPU per call (app
processes; nginx apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
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

from hall.auth import Role  # noqa: E402
from tests.e2e.deployment import need, render_nginx  # noqa: E402
from tests.e2e.live import add_clerk, add_device, clerk_session  # noqa: E402
from tests.support import AppProcess, RedisServer, free_port  # noqa: E402

HERE = Path(__file__).resolve().parent


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def nginx_pids(master: int) -> list[int]:
    """The nginx master and its workers."""
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Proxy:
    """nginx with deploy/nginx.conf in front of the app processes."""

    def __init__(self, folder: Path, upstreams: list[int] | list[Path], boards: int) -> None:
        self.port = free_port()
        conf = render_nginx(self.port, upstreams, folder)
        text = conf.read_text()
        # every proxied board holds two connections in nginx (board side and app side)
        need_conns = 2 * boards + 1024
        found = re.search(r"worker_connections (\d+);", text)
        if found and int(found.group(1)) < need_conns:
            text = text.replace(found.group(0), f"worker_connections {need_conns};")
            text = re.sub(r"worker_rlimit_nofile \d+;\n", "", text)
            text = f"worker_rlimit_nofile {2 * need_conns + 4096};\n" + text
        conf.write_text(text)
        self.log = folder / "nginx.out"
        self.process = subprocess.Popen(
            [need("nginx"), "-c", str(conf), "-p", str(folder), "-e", "stderr",
             "-g", "daemon off;"], stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.process.terminate()  # not SIGKILL: nginx's master would leave its workers
        self.process.wait(timeout=10)
        raise RuntimeError(f"nginx did not start: {self.log.read_text()[-800:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


class CBoards:
    """``count`` boards in one wsboards process."""

    def __init__(self, binary: Path, base_url: str, count: int) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.count = count
        self.process = subprocess.Popen([str(binary), host, port, "/ws/halls/district",
                                         str(count)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> tuple[int, int]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"wsboards did not start: {line}")
        return int(line[1]), int(line[2])

    def finish(self) -> dict[str, Any]:
        out, _ = self.process.communicate("stop\n", timeout=120)
        received, closed = [], 0
        for line in out.splitlines():
            parts = line.split()
            if parts[0] == "R":
                received.append((int(parts[1]), parts[2], float(parts[3])))
            elif parts[0] == "closed":
                closed = int(parts[1])
        return {"received": received, "failures": [f"{closed} boards closed by the server"]
                if closed else []}


def build_wsboards(folder: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("a C compiler (cc) is needed to build benchmarks/wsboards.c")
    binary = folder / "wsboards"
    subprocess.run([cc, "-O2", "-o", str(binary), str(HERE / "wsboards.c")], check=True)
    return binary


def run(boards: int, calls: int, rate: float, workers: int, deflate: bool, apps_n: int,
        client: str, py_spy: str | None = None, upstream: str = "unix") -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, boards * 4 + 4096)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    server = RedisServer(tmp / "redis").start()
    apps: list[AppProcess] = []
    proxy: Proxy | None = None
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    cboards: list[CBoards] = []
    load_before = os.getloadavg()
    try:
        unix = upstream == "unix" and apps_n > 1
        sockets = [tmp / f"app-{i}.sock" for i in range(apps_n)]
        for i in range(apps_n):
            apps.append(AppProcess(server.url, log_path=tmp / f"app-{i}.log",
                                   args=["--uds", str(sockets[i])] if unix else []).start())
        proxy = (Proxy(tmp, sockets if unix else [a.port for a in apps], boards)
                 if apps_n > 1 else None)
        base_url = proxy.url if proxy else apps[0].base_url
        kiosk = {"Authorization": f"Bearer {add_device(server.url, Role.KIOSK)}"}
        with httpx.Client(base_url=base_url, timeout=30) as http:
            for _ in range(calls):
                r = http.post("/api/halls/district/tickets", json={"matter": "QY-KB"},
                              headers=kiosk)
                r.raise_for_status()
        clerk = clerk_session(base_url, add_clerk(server.url, "S01"))
        clerk.post("/api/halls/district/windows/1/login").raise_for_status()

        share = [boards // workers + (1 if i < boards % workers else 0) for i in range(workers)]
        started = time.monotonic()
        if client == "c":
            binary = build_wsboards(tmp)
            cboards = [CBoards(binary, base_url, n) for n in share]
            opened = [c.wait_ready() for c in cboards]
            if any(failed for _, failed in opened):
                print(f"boards that failed to connect: {[f for _, f in opened]}",
                      file=sys.stderr)
        else:
            ready, stop, out = ctx.Queue(), ctx.Event(), ctx.Queue()
            url = base_url.replace("http://", "ws://") + "/ws/halls/district"
            for n in share:
                compression = "deflate" if deflate else None
                p = ctx.Process(target=board_worker,
                                args=(url, n, compression, ready, stop, out))
                p.start()
                procs.append(p)
            for _ in share:
                ready.get(timeout=180)
        connect_seconds = time.monotonic() - started
        hubs = [httpx.get(f"{a.base_url}/api/hub").json() for a in apps]
        time.sleep(1.0)

        pids = [a.process.pid for a in apps if a.process is not None]
        cpu_before = sum(cpu_seconds(p) for p in pids)
        proxy_pids = nginx_pids(proxy.process.pid) if proxy else []
        proxy_before = sum(cpu_seconds(p) for p in proxy_pids)
        client_pids = [c.process.pid for c in cboards] or [p.pid for p in procs]
        client_before = sum(cpu_seconds(p) for p in client_pids)
        spy = None
        if py_spy:  # the first app process, while the clerk calls
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "-f", "raw",
                 "-r", "200", "-d", str(max(1, int(calls / rate))), "-o", py_spy,
                 "-p", str(pids[0])], stdout=subprocess.DEVNULL)
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
        if spy is not None:
            spy.wait(timeout=60)
        server_cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
        proxy_cpu = sum(cpu_seconds(p) for p in proxy_pids) - proxy_before
        client_cpu = sum(cpu_seconds(p) for p in client_pids) - client_before
        load_after = os.getloadavg()
        if cboards:
            results = [c.finish() for c in cboards]
        else:
            stop.set()
            results = [out.get(timeout=120) for _ in procs]
        hubs_after = [httpx.get(f"{a.base_url}/api/hub").json() for a in apps]
    finally:
        for p in procs:
            p.join(timeout=30)
        for c in cboards:
            if c.process.poll() is None:
                c.process.kill()
        if proxy:
            proxy.stop()
        for a in apps:
            a.stop()
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
    by_call: dict[str, list[float]] = {}
    for res in results:
        for _, number, at in res["received"]:
            if number in sent:
                by_call.setdefault(number, []).append((at - sent[number]) * 1000)
    # a call whose FIRST board is late was held up before the sweep (server or scheduling);
    # a late last board with an early first one is the sweep itself
    worst = sorted(by_call.items(), key=lambda kv: -max(kv[1]))[:5]
    duplicated = sum(n - 1 for n in seen.values())
    expected = boards * calls
    return {
        "boards": boards, "calls": calls, "rate_per_s": rate, "apps": apps_n,
        "proxy": "nginx" if proxy else None,
        "upstream": ("unix" if unix else "tcp") if proxy else None,
        "client": client, "client_processes": workers,
        "deflate": deflate, "hub_clients": [h["clients"] for h in hubs],
        "connect_seconds": round(connect_seconds, 1),
        "deliveries": len(received), "expected": expected,
        "missed": expected - len(seen), "duplicated": duplicated,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p90_ms": round(percentile(latencies, 90), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "min_ms": round(min(latencies), 1) if latencies else None,
        "server_cpu_ms_per_call": round(server_cpu * 1000 / calls, 1),
        "proxy_cpu_ms_per_call": round(proxy_cpu * 1000 / calls, 1),
        "client_cpu_ms_per_call": round(client_cpu * 1000 / calls, 1),
        "dropped_slow": [h["dropped_slow"] for h in hubs_after],
        "hub_lag_s": [h["lag_seconds"] for h in hubs_after],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "worst_calls_first_median_last_ms": [
            (n, round(min(v), 1), round(statistics.median(v), 1), round(max(v), 1))
            for n, v in worst],
        "failures": failures[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--rate", type=float, default=2.0, help="calls per second")
    parser.add_argument("--apps", type=int, default=1,
                        help="hall serve processes (2 or more: behind nginx)")
    parser.add_argument("--client", choices=["c", "python"], default="c",
                        help="board sockets in C (wsboards.c) or Python (websockets)")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--deflate", action="store_true",
                        help="python boards offer permessage-deflate, as browsers do")
    parser.add_argument("--upstream", choices=["unix", "tcp"], default="unix",
                        help="how nginx reaches the apps: Unix sockets (hall serve --uds) or "
                             "loopback TCP")
    parser.add_argument("--py-spy", help="record the first app process during the calls here")
    parser.add_argument("--target-ms", type=float, default=None,
                        help="p99 target (default 50 ms for one process, 150 ms for more)")
    args = parser.parse_args()
    result = run(args.boards, args.calls, args.rate, args.workers, args.deflate, args.apps,
                 args.client, args.py_spy, args.upstream)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    target = args.target_ms or (50.0 if args.apps == 1 else 150.0)
    ok = result["missed"] == 0 and result["duplicated"] == 0
    print(f"\n{args.boards} boards on {args.apps} process(es)"
          f"{' behind nginx (' + args.upstream + ')' if args.apps > 1 else ''}, "
          f"{args.calls} calls at {args.rate}/s: "
          f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
          f"missed {result['missed']}, duplicated {result['duplicated']}; load "
          f"{result['load_before'][0]} -> {result['load_after'][0]} "
          f"→ {'OK' if ok and (result['p99_ms'] or 1e9) <= target else 'MISSES TARGET'} "
          f"(p99 ≤ {target:.0f} ms)")


if __name__ == "__main__":
    main()
