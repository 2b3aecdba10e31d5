"""The audit archive on a real Redis Cluster (3 primaries, 3 replicas): halls on different
primaries archive, read and verify as on one Redis (the removal script's keys share the
hall's slot; the sweep's reads go per slot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.crc import key_slot

from hall.audit_archiver import AuditArchiver
from hall.audit_store import AuditTrail, archived_key, day_key
from hall.redis_conn import async_client
from hall.settings import Settings
from tests.cluster_support import RedisClusterServers
from tests.support import FakeClock

ZONE = ZoneInfo("Asia/Shanghai")
HALLS = ("district", "town", "village")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(tmp_path_factory.mktemp("archive-cluster"))
    try:
        yield servers.start()
    finally:
        servers.stop()


async def test_halls_on_every_primary_archive_and_verify(cluster: RedisClusterServers,
                                                         tmp_path: Path) -> None:
    assert len({cluster.node_of_slot(key_slot(f"{{{h}}}".encode())).port
                for h in HALLS}) == 3  # one hall per primary
    client = async_client(Settings(redis_cluster_nodes=tuple(
        ("127.0.0.1", n.port) for n in cluster.nodes)))
    clock = FakeClock(datetime(2026, 11, 8, 10, tzinfo=ZONE).timestamp())
    trail = AuditTrail(client, {h: ZONE for h in HALLS}, clock, data_dir=tmp_path)
    try:
        days = []
        for i in range(10):
            for hall in HALLS:
                await trail.record(hall, "test.archive", target=f"t{i}")
            days.append(trail.day(HALLS[0], clock()))
            if i < 9:
                clock.advance(86400)
        swept = await AuditArchiver(trail).sweep(HALLS, 7, clock())
        assert (swept.archived, swept.refused) == (9, 0)  # 3 days of each hall
        for hall in HALLS:
            assert not await client.exists(day_key(hall, days[0]))
            assert await client.exists(archived_key(hall, days[2]))
            assert (tmp_path / "archive" / hall / f"{days[2]}.audit.jsonl.gz").exists()
            assert await trail.verify(hall) == (10, None)
            assert [s.entry.target for s in await trail.entries(
                hall, *[datetime.strptime(days[0], "%Y%m%d").date()] * 2)] == ["t0"]
    finally:
        await client.aclose()
