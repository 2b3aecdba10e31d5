"""Benchmark Redis Cluster failover: a primary killed under issue load, time until issues
succeed again, acknowledged tickets lost (must be 0), and what a hall on another shard saw.

One command:  .venv/bin/python benchmarks/bench_cluster.py  [--rounds 5] [--conns 4]
              [--node-timeout-ms 3000]

A real cluster on loopback (tests/cluster_support.py: Debian redis-server, 3 primaries +
3 replicas, AOF, password, ``cluster-node-timeout`` as given, full coverage not
required) and one ``hall serve`` with ``REDIS_CLUSTER_NODES`` and
``REDIS_WAIT_REPLICAS=1`` (started as the deployment tests start it). The three bundled
halls live on three different primaries; their daily limit is raised so no round sells
out. Each round:

1. ``--conns`` keep-alive connections issue in the target hall and as many in a hall of
   another shard, as fast as answered (benchmarks/loadgen.py), for 2 s;
2. the target hall's primary is SIGKILLed; load goes on until the target hall has
   issued for 2 s without a refusal;
3. recovery = kill → first acknowledged issue after the last refused one; lost = the
   acknowledged numbers missing from the promoted replica; the other hall's refusals;
4. the killed node is started again (it rejoins as the replica of the promoted one) and
   the next round waits until that replica is in sync, so every round has WAIT's guarantee.

Rounds target the halls in turn (district, town, village, ...).

Throughput on the cluster (``--throughput``): the same 3+3 cluster, ``--apps`` (2) ``hall
serve --reuse-port`` processes on one port with ``REDIS_CLUSTER_NODES`` and
``REDIS_WAIT_REPLICAS`` (``--wait-replicas``, 1 as deployed), ``--halls`` copies of the
district hall spread over the three primaries, a clerk at every window and a kiosk per
hall; then wrk as in benchmarks/bench_throughput.py (its Lua script, its parsing, its CPU
accounting: CPU of the apps and of the six redis-servers per issue), and the audit of
every hall::

    .venv/bin/python benchmarks/bench_cluster.py --throughput [--halls 6] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import redis  # noqa: E402
from loadgen import Connection, now  # noqa: E402
from redis.crc import key_slot  # noqa: E402

from hall.config import bundled_hall_files  # noqa: E402
from hall.text import as_str  # noqa: E402
from tests.cluster_support import RedisClusterServers  # noqa: E402
from tests.e2e.deployment import PASSWORD, Deployment, wait_until  # noqa: E402

MATTER = {"district": "QY-KB", "town": "MZ-JZ", "village": "CM-DB"}
HALLS = list(MATTER)
LIMIT = "max_ticket_per_day_per_queue = 1000000\n"


def hall_files(folder: Path) -> str:
    """The bundled halls with a daily limit no round reaches (``HALL_FILES``)."""
    paths = []
    for source in bundled_hall_files():
        text = Path(source).read_text(encoding="utf-8")
        if "\n[rules]\n" in text:
            text = text.replace("\n[rules]\n", "\n[rules]\n" + LIMIT, 1)
        else:
            text += "\n[rules]\n" + LIMIT
        path = folder / Path(source).name
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return os.pathsep.join(paths)


@dataclass
class Load:
    """What one hall's kiosks saw: (completion time, number) acknowledged, refusal times."""

    hall: str
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


async def kiosk(port: int, token: str, load: Load, halt: asyncio.Event) -> None:
    conn: Connection | None = None
    while not halt.is_set():
        try:
            if conn is None:
                conn = await Connection("127.0.0.1", port).open()
            status, body = await asyncio.wait_for(
                conn.request("POST", f"/api/halls/{load.hall}/tickets",
                             {"matter": MATTER[load.hall]}, token), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            load.refused.append(now())
            load.statuses[type(exc).__name__] = load.statuses.get(type(exc).__name__, 0) + 1
            if conn is not None:
                conn.close()
            conn = None
            await asyncio.sleep(0.05)
            continue
        if status == 201:
            load.acknowledged.append((now(), body["number"]))
        else:
            load.refused.append(now())
            code = f"{status} {(body or {}).get('error', {}).get('code', '')}"
            load.statuses[code] = load.statuses.get(code, 0) + 1
            await asyncio.sleep(0.05)
    if conn is not None:
        conn.close()


async def round_load(port: int, tokens: dict[str, str], target: str, other: str, conns: int,
                     kill: Any) -> tuple[Load, Load, float, float]:
    """Load both halls; kill after 2 s; stop once the target issued 2 s without refusal."""
    halt = asyncio.Event()
    loads = {hall: Load(hall) for hall in (target, other)}
    tasks = [asyncio.create_task(kiosk(port, tokens[hall], loads[hall], halt))
             for hall in (target, other) for _ in range(conns)]
    started = now()
    await asyncio.sleep(2.0)
    before = len(loads[target].acknowledged)
    rate = before / (now() - started)
    killed = now()
    await asyncio.to_thread(kill)
    deadline = killed + 60
    t = loads[target]
    while now() < deadline:
        await asyncio.sleep(0.1)
        last_refusal = max([killed, *t.refused])
        if t.refused and now() - last_refusal > 2 and t.acknowledged[-1][0] > last_refusal:
            break
    halt.set()
    await asyncio.gather(*tasks)
    return loads[target], loads[other], killed, rate


def stored_numbers(cluster: RedisClusterServers, hall: str) -> set[str]:
    node = cluster.node_of_slot(key_slot(f"{{{hall}}}".encode()))
    client = redis.Redis(port=node.port, password=PASSWORD)
    try:
        out: set[str] = set()
        for key in client.keys(f"hall:{{{hall}}}:day:*:numbers"):
            out |= {as_str(n) for n in client.hkeys(key)}
        return out
    finally:
        client.close()


def wait_in_sync(cluster: RedisClusterServers, node_port: int) -> None:
    """Until the restarted node is a replica whose link to its primary is up."""
    node = next(n for n in cluster.nodes if n.port == node_port)

    def synced() -> bool:
        info = node.client().info("replication")
        return info["role"] == "slave" and info.get("master_link_status") == "up"

    wait_until(synced, 60, f"node {node_port} back as an in-sync replica")
    cluster.wait_ok()


def app_errors(log: Path) -> dict[str, int]:
    """The app's unhandled errors (500s) by their last exception line, from its JSON log."""
    out: dict[str, int] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if '"unhandled error' not in line:
            continue
        exc = json.loads(line).get("exc", "")
        last = exc.strip().splitlines()[-1] if exc.strip() else "?"
        out[last[:160]] = out.get(last[:160], 0) + 1
    return out


class ClusterStack:
    """The 3+3 cluster and N ``hall serve --reuse-port`` processes on one port (what
    bench_throughput's ``Cpu`` and wrk phases need: ``port``, ``base_url``, pids)."""

    def __init__(self, folder: Path, apps: int, halls: list[Path], wait_replicas: int,
                 fsync: str) -> None:
        self.folder, self.apps, self.halls = folder, apps, halls
        self.wait_replicas = wait_replicas
        self.cluster = RedisClusterServers(folder / "cluster", password=PASSWORD, fsync=fsync)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> ClusterStack:
        from bench_core import free_port, start_apps

        self.cluster.start()
        self.port = free_port()
        self.env = {**os.environ, "REDIS_CLUSTER_NODES": self.cluster.spec,
                    "RQ_KEY_PREFIX": "{rq}", "REDIS_PASSWORD": PASSWORD,
                    "REDIS_WAIT_REPLICAS": str(self.wait_replicas),
                    "REDIS_WAIT_TIMEOUT_MS": "1000", "HALL_START_WORKER": "0",
                    "HALL_ALWAYS_OPEN": "1", "PYTHONUNBUFFERED": "1",
                    "HALL_DATA": str(self.folder / "var"),
                    "HALL_FILES": os.pathsep.join(str(p) for p in self.halls)}
        start_apps(self.processes, self.apps, self.port, self.env, self.folder)
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def redis_pids(self) -> list[int]:
        return [n.process.pid for n in self.cluster.nodes if n.process is not None]

    def stop(self) -> None:
        from bench_core import stop_processes

        stop_processes(self.processes)
        self.cluster.stop()


async def provision_cluster(stack: ClusterStack, hall_ids: list[str]) -> dict[str, str]:
    """A kiosk token per hall and a clerk logged in at every window (as bench_core's
    ``provision``, through a cluster client)."""
    from bench_core import SEATS

    from hall.auth import AuthStore, Role
    from hall.redis_conn import async_client
    from hall.settings import Settings

    client = async_client(Settings.from_env(stack.env))
    auth = AuthStore(client)
    kiosks: dict[str, str] = {}
    for hall in hall_ids:
        kiosks[hall] = await auth.add_device(Role.KIOSK, hall, f"{hall}-kiosk")
        for staff in SEATS.values():
            await auth.add_user(f"{hall}-{staff}", "cluster bench passphrase 9", Role.CLERK,
                                (hall,), staff)
    await client.aclose()
    conn = await Connection("127.0.0.1", stack.port).open()
    for hall in hall_ids:
        for window, staff in SEATS.items():
            status, body = await conn.request("POST", "/api/login", {
                "username": f"{hall}-{staff}", "password": "cluster bench passphrase 9"})
            assert status == 200, body
            status, body = await conn.request(
                "POST", f"/api/halls/{hall}/windows/{window}/login", token=body["token"])
            assert status == 200, body
    conn.close()
    return kiosks


def throughput(args: argparse.Namespace) -> int:
    """Issue throughput with wrk on the cluster (see the module's docstring)."""
    import shutil

    import httpx
    from bench_core import audit_summary
    from bench_core import hall_files as copies
    from bench_throughput import Cpu, parse_wrk, requests_for, run_child, settle, wrk_script
    from redis.cluster import ClusterNode, RedisCluster

    from ticketing.audit import audit_hall

    with tempfile.TemporaryDirectory(prefix="bench-cluster-tp-") as tmp:
        folder = Path(tmp)
        files = copies(folder, args.halls)
        hall_ids = [p.stem for p in files]
        stack = ClusterStack(folder, args.apps, files, args.wait_replicas, args.fsync)
        try:
            stack.start()
            spread: dict[int, list[str]] = {}
            for hall in hall_ids:
                node = stack.cluster.node_of_slot(key_slot(f"{{{hall}}}".encode()))
                spread.setdefault(node.port, []).append(hall)
            tokens = asyncio.run(provision_cluster(stack, hall_ids))
            info = httpx.get(f"{stack.base_url}/api/halls/{hall_ids[0]}").json()
            matters = [m["code"] for m in info["matters"]]
            script = wrk_script(folder, requests_for(tokens, matters, stack.port))
            wrk = shutil.which("wrk") or "/usr/bin/wrk"
            result: dict[str, Any] = {
                "apps": args.apps, "halls": args.halls, "wait_replicas": args.wait_replicas,
                "appendfsync": args.fsync,
                "halls_per_primary": sorted(len(v) for v in spread.values()),
                "load_before": os.getloadavg()}
            run_child([wrk, "-t1", f"-c{args.connections}", "-d2s", "-s", str(script),
                       stack.base_url])  # warm up
            with Cpu(stack) as cpu:  # type: ignore[arg-type]
                text, client = run_child(
                    [wrk, "-t1", f"-c{args.connections}", f"-d{int(args.seconds)}s",
                     "--latency", "--timeout", "10s", "-s", str(script), stack.base_url])
            parsed = parse_wrk(text)
            result["max"] = {"connections": args.connections, **parsed,
                             **cpu.per(parsed["requests"], client)}
            result["load_after"] = os.getloadavg()
            nodes = [ClusterNode("127.0.0.1", n.port)  # type: ignore[no-untyped-call]
                     for n in stack.cluster.nodes]
            with RedisCluster(startup_nodes=nodes, password=PASSWORD) as check:
                settle(check, hall_ids)  # requests in flight when wrk stops
                result["audit"] = audit_summary([audit_hall(check, h) for h in hall_ids])
            print(json.dumps(result), flush=True)
            audit = result["audit"]
            return 1 if any(audit[k] for k in ("duplicate_numbers", "double_calls", "lost",
                                                  "inconsistent")) else 0
        finally:
            stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conns", type=int, default=4, help="connections per hall")
    parser.add_argument("--node-timeout-ms", type=int, default=3000)
    parser.add_argument("--throughput", action="store_true",
                        help="measure issue throughput with wrk instead of failovers")
    parser.add_argument("--apps", type=int, default=2, help="(--throughput) app processes")
    parser.add_argument("--halls", type=int, default=6, help="(--throughput) halls")
    parser.add_argument("--connections", type=int, default=64, help="(--throughput) wrk")
    parser.add_argument("--seconds", type=float, default=20.0, help="(--throughput)")
    parser.add_argument("--wait-replicas", type=int, default=1, help="(--throughput)")
    parser.add_argument("--fsync", default="everysec", choices=["everysec", "always"],
                        help="(--throughput) appendfsync of every node (docs/DEPLOY.md: everysec)")
    args = parser.parse_args()
    if args.throughput:
        return throughput(args)
    print(json.dumps({"load_average_start": os.getloadavg()}), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        cluster = RedisClusterServers(folder / "cluster", password=PASSWORD,
                                      node_timeout_ms=args.node_timeout_ms)
        d = Deployment(folder / "deploy", apps=1, own_redis=False, worker=False, proxy=False,
                       extra_env={"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "1000",
                                  "HALL_ALWAYS_OPEN": "1", "RQ_KEY_PREFIX": "{rq}"})
        try:
            cluster.start()
            d.extra_env["REDIS_CLUSTER_NODES"] = cluster.spec
            d.extra_env["HALL_FILES"] = hall_files(folder)
            d.start()
            app = d.app_procs[0]
            text = (d.data / "initial-credentials.txt").read_text(encoding="utf-8")
            tokens = dict(re.findall(r"/h/(\w+)/kiosk\?device=(\S+)", text))
            runs: list[dict[str, Any]] = []
            for r in range(args.rounds):
                target, other = HALLS[r % 3], HALLS[(r + 1) % 3]
                victim = cluster.node_of_slot(key_slot(f"{{{target}}}".encode()))
                t, o, killed, rate = asyncio.run(round_load(
                    app.port, tokens, target, other, args.conns,
                    lambda v=victim: cluster.kill(v)))
                last_refusal = max([killed, *t.refused])
                first_ok = min((when for when, _ in t.acknowledged if when > last_refusal),
                               default=float("nan"))
                stored = stored_numbers(cluster, target)
                acked = [n for when, n in t.acknowledged]
                run = {"round": r + 1, "hall": target, "issues_per_s_before": round(rate, 1),
                       "recovery_s": round(first_ok - killed, 2),
                       "refused": len(t.refused), "refusals": t.statuses,
                       "acknowledged": len(acked),
                       "acknowledged_lost": len(set(acked) - stored),
                       "numbered_twice": len(acked) - len(set(acked)),
                       "other_hall": other, "other_acknowledged": len(o.acknowledged),
                       "other_refused": len(o.refused),
                       "load_average": os.getloadavg()[0]}
                runs.append(run)
                print(json.dumps(run, ensure_ascii=False), flush=True)
                cluster.restart(victim)
                wait_in_sync(cluster, victim.port)
            times: list[float] = [float(r["recovery_s"]) for r in runs]
            print(json.dumps({
                "node_timeout_ms": args.node_timeout_ms,
                "recovery_s": {"median": statistics.median(times), "max": max(times),
                               "min": min(times)},
                "acknowledged_lost": sum(r["acknowledged_lost"] for r in runs),
                "numbered_twice": sum(r["numbered_twice"] for r in runs),
                "other_hall_refused": sum(r["other_refused"] for r in runs),
                "load_average_end": os.getloadavg()}), flush=True)
            print(json.dumps({"app_errors": app_errors(app.log)}, ensure_ascii=False), flush=True)
        finally:
            d.stop()
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
