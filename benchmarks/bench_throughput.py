"""Ticket issue throughput through HTTP, driven by C load generators (Debian's wrk and a small
open-loop client), so the client does not eat the server's CPU.

One command:  .venv/bin/python benchmarks/bench_throughput.py

It starts its own redis-server (AOF on, fsync every second) and ``--apps`` ``hall serve``
processes (default 2) sharing ONE port with ``SO_REUSEPORT`` (``hall serve --reuse-port``:
the kernel spreads connections over the processes, no proxy on the cores), with ``--halls``
copies of the district hall (daily limit raised), a clerk logged in at every window (the
estimate quoted at issue reads the open windows) and a kiosk device token per hall.

1. **max**: ``wrk -t1 -c C -d S --latency`` with a Lua script that posts ``{"matter": …}``
   with the kiosk's bearer token, over every hall and matter in turn: issues/s, p50/p99.
2. **steady**: ``benchmarks/openloop.c`` (built here with ``cc -O2``): issues at a constant
   ``--rate`` per second (wrk2's way: request k is due at start + k/rate and its latency
   runs from then, so a stall is counted, not hidden): achieved rate, p50/p99.

CPU seconds of the apps, Redis and the load generator are read for each phase (CPU per
issue is the figure a shared machine disturbs least), and every hall is audited at the end
(``ticketing/audit.py``: duplicate numbers, double calls, lost, inconsistent must all be 0).
``--py-spy FILE`` records the first app process during the max phase (py-spy raw format;
``--py-spy-phase steady``: during the steady phase, where each issue makes its trips alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from bench_core import (
    audit_summary,
    cpu_seconds,
    free_port,
    hall_files,
    provision,
    start_apps,
    start_redis,
    stop_processes,
    wait_until,
)

from ticketing.audit import audit_hall

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


class Stack:
    """redis-server plus N ``hall serve --reuse-port`` processes on one port."""

    def __init__(self, folder: Path, apps: int, halls: list[Path], fsync: str,
                 trace_stalls: int = 0) -> None:
        self.folder, self.halls, self.fsync, self.apps = folder, halls, fsync, apps
        self.trace_stalls = trace_stalls
        self.redis_port, self.port = free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self) -> Stack:
        self.processes.append(start_redis(self.folder / "redis", self.redis_port, self.fsync))
        wait_until(redis.Redis.from_url(self.redis_url).ping, "redis-server")
        # Redis's own record of its stalls (fork, AOF write and fsync, slow commands)
        redis.Redis.from_url(self.redis_url).config_set("latency-monitor-threshold", 10)
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALL_START_WORKER": "0",
               "HALL_ALWAYS_OPEN": "1", "PYTHONUNBUFFERED": "1",
               "HALL_DATA": str(self.folder / "var"),
               "HALL_STALL_TRACE_MS": str(self.trace_stalls),
               "HALL_FILES": os.pathsep.join(str(p) for p in self.halls)}
        try:
            start_apps(self.processes, self.apps, self.port, env, self.folder)
            wait_until(lambda: httpx.get(f"{self.base_url}/readyz").status_code == 200,
                       "readyz")
        except RuntimeError:
            for i in range(self.apps):
                print((self.folder / f"app-{i}.log").read_text()[-3000:], file=sys.stderr)
            self.stop()
            raise
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_processes(self.processes)

    @property
    def ports(self) -> list[int]:  # what bench_core.provision connects to
        return [self.port]

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.processes[1:]]

    def redis_pids(self) -> list[int]:
        return [self.processes[0].pid]


def requests_for(tokens: dict[str, str], matters: list[str], port: int
                 ) -> list[tuple[str, str, str]]:
    """(path, token, body) for every hall and matter, in the order they are sent."""
    return [(f"/api/halls/{hall}/tickets", token, json.dumps({"matter": m}))
            for m in matters for hall, token in tokens.items()]


def wrk_script(folder: Path, reqs: list[tuple[str, str, str]]) -> Path:
    """A wrk Lua script that sends the prepared requests in turn (formatted once)."""
    entries = ",\n".join(f"  {{{json.dumps(p)}, {json.dumps(t)}, {json.dumps(b)}}}"
                         for p, t, b in reqs)
    path = folder / "issue.lua"
    path.write_text(f"""
local specs = {{
{entries}
}}
local reqs = {{}}
local i = 0
init = function(args)
  for k, s in ipairs(specs) do
    reqs[k] = wrk.format("POST", s[1], {{["Authorization"] = "Bearer " .. s[2],
                                        ["Content-Type"] = "application/json"}}, s[3])
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
""")
    return path


def request_files(folder: Path, reqs: list[tuple[str, str, str]], port: int) -> list[Path]:
    files = []
    for k, (path, token, body) in enumerate(reqs):
        raw = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        file = folder / f"req-{k}.http"
        file.write_bytes(raw.encode())
        files.append(file)
    return files


def settle(client: Any, hall_ids: list[str], deadline: float = 30.0) -> None:
    """Wait until no issue is still being committed (the halls' streams keep their length
    for half a second): requests in flight when the load generator stops are still
    answered, and an audit reading the streams and the records apart would see a ticket
    issued between its two reads as lost."""
    from ticketing.keys import HallKeys

    def total() -> int:
        return sum(int(client.xlen(HallKeys(h).events)) for h in hall_ids)

    end, last = time.monotonic() + deadline, -1
    while time.monotonic() < end:
        now = total()
        if now == last:
            return
        last = now
        time.sleep(0.5)


def build_openloop(folder: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("a C compiler (cc) is needed to build benchmarks/openloop.c")
    binary = folder / "openloop"
    subprocess.run([cc, "-O2", "-o", str(binary), str(HERE / "openloop.c")], check=True)
    return binary


def run_child(args: list[str]) -> tuple[str, float]:
    """Run a load generator; its stdout and its own CPU seconds (from wait4)."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(args, stdout=out)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({process.returncode}): {text}")
    return text, usage.ru_utime + usage.ru_stime


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["per_s"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    out["requests"] = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    for pct in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if found:
            out[f"p{pct}_ms"] = round(_ms(found.group(1)), 2)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = sock.group(1) if sock else ""
    return out


def command_calls(stack: Stack) -> dict[str, int]:
    """Redis's count of each command run so far (INFO commandstats); empty for a stack
    without one Redis (bench_cluster's)."""
    url = getattr(stack, "redis_url", None)
    if url is None:
        return {}
    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


class Cpu:
    """CPU seconds used by the apps and Redis across a phase, and the commands Redis ran
    (a count the machine's load cannot blur: round trips and script runs per issue)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __enter__(self) -> Cpu:
        self.calls0 = command_calls(self.stack)
        self.app0 = cpu_seconds(self.stack.app_pids())
        self.redis0 = cpu_seconds(self.stack.redis_pids())
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.app = cpu_seconds(self.stack.app_pids()) - self.app0
        self.redis = cpu_seconds(self.stack.redis_pids()) - self.redis0
        self.wall = time.monotonic() - self.t0
        calls = command_calls(self.stack)
        self.calls = {k: n - self.calls0.get(k, 0) for k, n in calls.items()
                      if n - self.calls0.get(k, 0) > 0 and k != "info"}

    def per(self, requests: int, client: float) -> dict[str, Any]:
        n = max(requests, 1)
        return {"app_cpu_ms_per_issue": round(self.app / n * 1000, 3),
                "redis_cpu_ms_per_issue": round(self.redis / n * 1000, 3),
                "client_cpu_ms_per_issue": round(client / n * 1000, 3),
                "app_cores_busy": round(self.app / self.wall, 2),
                "redis_commands_per_issue": {k: round(v / n, 2) for k, v in sorted(
                    self.calls.items(), key=lambda kv: -kv[1]) if v / n >= 0.01}}


STALL = re.compile(r"event loop held (\d+) ms from ([\d.]+), (\d+) ms CPU; gc: (.*?); "
                   r"stacks: (.*)$", re.M)


def app_stalls(logs: list[Path], since: float, until: float) -> list[dict[str, Any]]:
    """The apps' logged event-loop stalls (``hall.metrics.LoopMonitor``) in a time span."""
    out = []
    for i, log in enumerate(logs):
        for held, start, cpu, gcs, stacks in STALL.findall(log.read_text(errors="replace")):
            if since <= float(start) <= until:
                out.append({"app": i, "start": float(start), "ms": int(held),
                            "cpu_ms": int(cpu), "gc": gcs, "stacks": stacks})
    return sorted(out, key=lambda x: x["start"])


OURS = re.compile(r"\b((?:hall|ticketing|tide|voice|displays)/[\w/]+\.py:\d+ \S+)")


def stall_causes(stalls: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """CPU ms and count of the stalls by what held the loop: the two innermost lines of this
    project's code in the stall's most sampled stack ("gc" when collections took most of
    its CPU, "untraced" without samples)."""
    out: dict[str, list[int]] = {}
    for x in stalls:
        gc_ms = sum(int(m) for m in re.findall(r"gen\d \d+ ms \((\d+) CPU\)", x["gc"]))
        ours = OURS.findall(x["stacks"].split(" | ")[0].split("x ", 1)[-1])[:2]
        key = ("gc" if gc_ms * 2 >= x["cpu_ms"] > 0 else " < ".join(ours) if ours
               else "untraced" if x["stacks"] == "not traced" else "outside this project")
        slot = out.setdefault(key, [0, 0])
        slot[0] += x["cpu_ms"]
        slot[1] += 1
    return sorted(((k, v[0], v[1]) for k, v in out.items()), key=lambda t: -t[1])


def redis_stalls(stack: Stack) -> dict[str, Any]:
    """Redis's latency monitor (events over 10 ms) and its delayed AOF fsyncs."""
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    latest = client.execute_command("LATENCY", "LATEST")
    info = client.info("persistence")
    return {"latency_events": [{"event": e[0], "last_ms": e[2], "max_ms": e[3]}
                               for e in latest or []],
            "aof_delayed_fsync": info.get("aof_delayed_fsync", 0),
            "aof_rewrites": info.get("aof_rewrites", 0)}


def correlate(steady: dict[str, Any], stalls: list[dict[str, Any]]) -> dict[str, Any]:
    """Which slow episodes of the open loop (requests over 20 ms, in 100 ms slots of due
    time) began while an app's event loop was held (from 0.5 s before the episode to its
    end): slow requests explained by stalls, and what held the loops."""
    start = steady["start_epoch"]
    slow = explained = 0
    episodes = []
    for t0, t1, worst, over in steady.get("episodes", []):
        hits = [x for x in stalls if start + t0 - 0.5 <= x["start"] <= start + t1]
        slow += over
        explained += over if hits else 0
        episodes.append({"from_s": t0, "to_s": t1, "worst_ms": worst, "slow": over,
                         "stalls": [(x["app"], round(x["start"] - start, 2), x["ms"],
                                     x["cpu_ms"], x["gc"])
                                    for x in hits]})
    return {"slow_requests": slow, "explained_by_stalls": explained,
            "stall_count": len(stalls), "stall_ms_total": sum(x["ms"] for x in stalls),
            "stall_cpu_ms_total": sum(x["cpu_ms"] for x in stalls),
            "causes": stall_causes(stalls),
            "episodes": episodes}


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        folder = Path(tmp)
        files = hall_files(folder, args.halls)
        openloop = build_openloop(folder)
        stack = Stack(folder, args.apps, files, args.fsync, args.trace_stalls).start()
        try:
            hall_ids = [p.stem for p in files]
            # a clerk at every window (as in a working hall: the estimate at issue reads
            # open windows), and a kiosk token per hall
            tokens, _ = asyncio.run(provision(stack, hall_ids))  # type: ignore[arg-type]
            info = httpx.get(f"{stack.base_url}/api/halls/{hall_ids[0]}").json()
            matters = [m["code"] for m in info["matters"]]
            reqs = requests_for(tokens, matters, stack.port)
            script = wrk_script(folder, reqs)
            result: dict[str, Any] = {"apps": args.apps, "halls": args.halls,
                                      "load_before": os.getloadavg()}
            wrk = shutil.which("wrk") or "/usr/bin/wrk"
            url = stack.base_url
            # warm up: every process's code paths, connections and caches
            run_child([wrk, "-t1", f"-c{args.connections}", "-d2s", "-s", str(script), url])

            def spy_on(phase: str, seconds: float) -> subprocess.Popen[bytes] | None:
                if not args.py_spy or args.py_spy_phase != phase:
                    return None
                return subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "--gil",
                     "-f", "raw", "-r", "200", "-d", str(int(seconds)), "-o", args.py_spy,
                     "-p", str(stack.app_pids()[0])], stdout=subprocess.DEVNULL)

            if "max" in args.phases:
                spy = spy_on("max", args.seconds)
                with Cpu(stack) as cpu:
                    text, client = run_child(
                        [wrk, f"-t{args.threads}", f"-c{args.connections}",
                         f"-d{int(args.seconds)}s", "--latency", "--timeout", "10s",
                         "-s", str(script), url])
                if spy is not None:
                    spy.wait(timeout=60)
                result["max"] = {"connections": args.connections, **parse_wrk(text),
                                 **cpu.per(parse_wrk(text)["requests"], client)}
                result["load_after_max"] = os.getloadavg()
            if "steady" in args.phases:
                spy = spy_on("steady", args.steady_seconds)
                with Cpu(stack) as cpu:
                    text, client = run_child(
                        [str(openloop), "127.0.0.1", str(stack.port), str(args.rate),
                         str(args.steady_seconds), str(args.steady_connections),
                         *(str(f) for f in request_files(folder, reqs, stack.port))])
                if spy is not None:
                    spy.wait(timeout=60)
                steady = json.loads(text)
                result["steady"] = {**steady, **cpu.per(steady["ok"], client)}
                stalls = app_stalls([folder / f"app-{i}.log" for i in range(args.apps)],
                                    steady["start_epoch"],
                                    steady["start_epoch"] + cpu.wall + 1)
                result["stalls"] = {**correlate(steady, stalls), "list": stalls}
                result["load_after_steady"] = os.getloadavg()
            result["redis_stalls"] = redis_stalls(stack)
            client_redis = redis.Redis.from_url(stack.redis_url)
            settle(client_redis, hall_ids)
            reports = [audit_hall(client_redis, h) for h in hall_ids]
            result["audit"] = audit_summary(reports)
            return result
        finally:
            stack.stop()


def report(r: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in r["load_before"])
    lines = [f"== {r['apps']} app process(es) on one port (SO_REUSEPORT), {r['halls']} halls; "
             f"load average before: {load} on {os.cpu_count()} cores =="]
    if "max" in r:
        m = r["max"]
        lines.append(f"max (wrk, {m['connections']} connections): {m['per_s']:.0f} issues/s, "
                     f"p50 {m.get('p50_ms')} ms, p90 {m.get('p90_ms')} ms, "
                     f"p99 {m.get('p99_ms')} ms, non-2xx {m['non_2xx']}, "
                     f"socket errors: {m['socket_errors'] or 'none'}")
        lines.append(f"    CPU ms per issue: app {m['app_cpu_ms_per_issue']}, redis "
                     f"{m['redis_cpu_ms_per_issue']}, wrk {m['client_cpu_ms_per_issue']}; "
                     f"app cores busy {m['app_cores_busy']}; Redis commands per issue "
                     f"{m['redis_commands_per_issue']}; load after "
                     f"{r['load_after_max'][0]:.2f}")
    if "steady" in r:
        s = r["steady"]
        lines.append(f"steady (open loop, {s['rate']:.0f}/s for {s['seconds']:.0f} s, "
                     f"{s['connections']} connections): achieved {s['achieved_per_s']:.0f}/s, "
                     f"p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms, "
                     f"p99.9 {s['p999_ms']} ms, max {s['max_ms']} ms, errors {s['errors']}, "
                     f"unanswered {s['unanswered']}")
        lines.append(f"    CPU ms per issue: app {s['app_cpu_ms_per_issue']}, redis "
                     f"{s['redis_cpu_ms_per_issue']}, client {s['client_cpu_ms_per_issue']}; "
                     f"app cores busy {s['app_cores_busy']}; Redis commands per issue "
                     f"{s['redis_commands_per_issue']}; load after "
                     f"{r['load_after_steady'][0]:.2f}")
    if "stalls" in r:
        st = r["stalls"]
        lines.append(f"    slow requests (> 20 ms): {st['slow_requests']}, of which "
                     f"{st['explained_by_stalls']} in episodes that began while an app's "
                     f"event loop was held; {st['stall_count']} stalls >= 50 ms, "
                     f"{st['stall_ms_total']} ms in all ({st['stall_cpu_ms_total']} ms CPU)")
        for e in st["episodes"][:12]:
            lines.append(f"      {e['from_s']:.1f}-{e['to_s']:.1f} s: worst {e['worst_ms']:.0f} "
                         f"ms, {e['slow']} slow; stalls (app, at s, ms, CPU ms, gc) {e['stalls']}")
        for cause, cpu_ms, n in st["causes"][:8]:
            lines.append(f"      held by {cause}: {n} stalls, {cpu_ms} ms CPU")
        for x in st["list"][:8]:
            lines.append(f"      stall app{x['app']} {x['ms']} ms ({x['cpu_ms']} CPU) gc "
                         f"{x['gc']}: {x['stacks'][:600]}")
    lines.append(f"redis: {r['redis_stalls']}")
    lines.append(f"audit: {r['audit']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=2, help="hall serve processes")
    parser.add_argument("--halls", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the max phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="steady issues per second")
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    parser.add_argument("--steady-connections", type=int, default=32)
    parser.add_argument("--fsync", default="everysec", choices=["everysec", "always"])
    parser.add_argument("--phases", default="max,steady")
    parser.add_argument("--py-spy", help="record the first app during a phase here (raw)")
    parser.add_argument("--py-spy-phase", default="max", choices=["max", "steady"],
                        help="the phase --py-spy records")
    parser.add_argument("--trace-stalls", type=int, default=0, metavar="MS",
                        help="the apps log stalls from MS ms with the stack that held "
                             "their event loop (HALL_STALL_TRACE_MS)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = run(args)
    print(report(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    audit = result["audit"]
    return 1 if any(audit[k] for k in ("duplicate_numbers", "double_calls", "lost",
                                          "inconsistent")) else 0


if __name__ == "__main__":
    sys.exit(main())
