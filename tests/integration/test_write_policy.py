"""REDIS_WAIT_REPLICAS on a real primary + replica: acknowledged writes are on the replica;
a connected replica that does not confirm makes the change answer 503 not_replicated."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from hall.config import HallConfig
from hall.redis_conn import NotReplicated, WritePolicy
from tests.e2e.deployment import PASSWORD, load_compose, start_redis, wait_until
from tests.support import FakeClock, free_port
from ticketing.model import Channel
from ticketing.store import TicketStore


@pytest.fixture
def pair(tmp_path: Path):
    services = load_compose({"REDIS_PASSWORD": PASSWORD})
    primary_port, replica_port = free_port(), free_port()
    procs = [start_redis(services["redis"], primary_port, tmp_path / "primary", None),
             start_redis(services["redis-replica"], replica_port, tmp_path / "replica",
                         primary_port)]
    primary = redis.Redis(port=primary_port, password=PASSWORD)
    wait_until(lambda: primary.info("replication").get("slave0", {}).get("state") == "online",
               10, "replica in sync")
    yield primary_port, replica_port, procs[1]
    for proc in reversed(procs):
        proc.stop()


async def test_acknowledged_issue_is_on_the_replica(pair, halls: dict[str, HallConfig]):
    primary_port, replica_port, _ = pair
    client = AsyncRedis(port=primary_port, password=PASSWORD)
    store = TicketStore(client, halls, FakeClock())
    store.write_policy = WritePolicy(replicas=1, timeout_ms=2000)
    replica = redis.Redis(port=replica_port, password=PASSWORD)
    for _ in range(20):
        ticket, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
        # no polling: the replica holds it the moment the issue returns
        raw = replica.hget(f"hall:{{district}}:t:{ticket.id}", "json")
        assert raw is not None and json.loads(raw)["number"] == ticket.number
    assert store.write_policy.unreplicated == 0
    await client.aclose()


async def test_unconfirmed_write_is_refused_not_acknowledged(pair, halls):
    primary_port, _, _ = pair
    client = AsyncRedis(port=primary_port, password=PASSWORD)
    store = TicketStore(client, halls, FakeClock())
    store.write_policy = WritePolicy(replicas=1, timeout_ms=200)
    replica_proc = pair[2]
    replica_proc.signal(signal.SIGSTOP)  # still connected, but it acknowledges nothing
    try:
        with pytest.raises(NotReplicated) as refused:
            await store.issue("district", "QY-KB", Channel.KIOSK)
    finally:
        replica_proc.signal(signal.SIGCONT)
    assert refused.value.status == 503 and refused.value.code == "not_replicated"
    await client.aclose()


async def test_no_replica_connected_is_accepted_degraded(tmp_path, halls):
    services = load_compose({"REDIS_PASSWORD": PASSWORD})
    port = free_port()
    proc = start_redis(services["redis"], port, tmp_path / "alone", None)
    client = AsyncRedis(port=port, password=PASSWORD)
    try:
        store = TicketStore(client, halls, FakeClock())
        store.write_policy = WritePolicy(replicas=1, timeout_ms=100)
        ticket, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
        assert ticket.number == "A001"
        assert store.write_policy.unreplicated == 1
    finally:
        await client.aclose()
        proc.stop()
