"""compose.yaml's `cluster` profile, run as local processes (no Docker): its six nodes'
command (Debian's redis-server, loopback ports) and its one-shot create script
(deploy/redis-cluster-create.sh) make a working 3 + 3 cluster, the script is harmless when
run again, and an app process with the profile's settings issues and calls on it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.cluster_support import cluster_port
from tests.e2e.deployment import (
    PASSWORD,
    Deployment,
    Proc,
    load_compose,
    need,
    replace_arg,
    wait_until,
)
from tests.support import ROOT

SCRIPT = ROOT / "deploy" / "redis-cluster-create.sh"


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[int]]:
    services = load_compose({"REDIS_PASSWORD": PASSWORD})
    names = [f"redis-node-{n}" for n in range(1, 7)]
    assert all(services[n]["profiles"] == ["cluster"] for n in [*names, "redis-cluster-create"])
    ports: list[int] = []
    procs: list[Proc] = []
    try:
        for name in names:
            port = cluster_port()
            while port in ports:
                port = cluster_port()
            data = tmp_path / name
            data.mkdir()
            command = list(services[name]["command"])
            assert command[0] == "redis-server"
            command[0] = need("redis-server")
            command = replace_arg(replace_arg(command, "--port", str(port)), "--dir", str(data))
            procs.append(Proc(name, [*command, "--bind", "127.0.0.1", "--logfile",
                                     str(data / "redis.log")], dict(os.environ),
                              data / "redis.out", port).start())
            ports.append(port)
        for port in ports:
            wait_until(redis.Redis(port=port, password=PASSWORD).ping, 15, f"node {port}")
        yield ports
    finally:
        for proc in procs:
            proc.stop()


def create(ports: list[int]) -> subprocess.CompletedProcess[str]:
    """The profile's one-shot service: its script with its environment, on loopback."""
    services = load_compose({"REDIS_PASSWORD": PASSWORD})
    service = services["redis-cluster-create"]
    assert service["command"] == ["sh", "/etc/hall/redis-cluster-create.sh"]
    assert service["volumes"] == ["./deploy/redis-cluster-create.sh:"
                                  "/etc/hall/redis-cluster-create.sh:ro"]
    env = {**os.environ, **service["environment"],
           "REDIS_CLUSTER_NODES": ",".join(f"localhost:{p}" for p in ports)}
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_cluster_profile_makes_a_cluster_the_app_runs_on(nodes: list[int],
                                                            tmp_path: Path) -> None:
    done = create(nodes)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cluster_state:ok" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    clients = [redis.Redis(port=p, password=PASSWORD) for p in nodes]
    roles = [c.info("replication")["role"] for c in clients]
    assert sorted(roles) == ["master"] * 3 + ["slave"] * 3, roles
    assert int(clients[0].cluster("info")["cluster_slots_ok"]) == 16384

    again = create(nodes)  # a restart of the profile: nothing changes
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to do" in again.stdout
    assert [c.info("replication")["role"] for c in clients] == roles

    # an app with the profile's settings (as docs/DEPLOY.md tells to put in .env)
    for client in clients:  # WAIT 1 needs each primary's replica to have synced
        if client.info("replication")["role"] == "master":
            wait_until(lambda c=client: c.info("replication")["slave0"]["state"] == "online",
                       30, "replica online")
    d = Deployment(tmp_path / "deploy", apps=1, own_redis=False, worker=False, proxy=False,
                   extra_env={"REDIS_CLUSTER_NODES": ",".join(f"127.0.0.1:{p}" for p in nodes),
                              "RQ_KEY_PREFIX": "{rq}", "REDIS_WAIT_REPLICAS": "1",
                              "HALL_ALWAYS_OPEN": "1"})
    try:
        d.start()
        app = d.app_procs[0]
        links, kiosk = d.credentials()
        issued = httpx.post(f"{app.url}/api/halls/district/tickets", json={"matter": "QY-KB"},
                            headers={"Authorization": f"Bearer {kiosk}"})
        assert issued.status_code == 201, issued.text
        clerk = d.login("district-S01", links, app.url)
        base = f"{app.url}/api/halls/district/windows/1"
        assert httpx.post(f"{base}/login", headers=clerk).status_code == 200
        called = httpx.post(f"{base}/call-next", headers=clerk)
        assert called.status_code == 200, called.text
        assert called.json()["ticket"]["number"] == issued.json()["number"]
    finally:
        d.stop()
