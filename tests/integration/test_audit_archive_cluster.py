"""The audit archive and the ticket-record archive on a real Redis Cluster (3 primaries, 3
replicas): halls on different primaries archive, read and verify as on one Redis (the
removal script's keys share the hall's slot; the sweep's reads go per slot)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.crc import key_slot

from hall.audit_archiver import AuditArchiver
from hall.audit_store import AuditTrail, archived_key, day_key
from hall.config import HallConfig
from hall.redis_conn import async_client
from hall.settings import Settings
from tests.cluster_support import RedisClusterServers
from tests.support import FakeClock
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.record_archive import RecordArchive, records_index_key
from ticketing.record_archiver import RecordArchiver
from ticketing.report_store import ReportStore
from ticketing.store import TicketStore

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


async def test_ticket_records_of_halls_on_every_primary_archive_and_read_back(
        cluster: RedisClusterServers, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    """The record archive too: its removal and find scripts name only the hall's keys."""
    client = async_client(Settings(redis_cluster_nodes=tuple(
        ("127.0.0.1", n.port) for n in cluster.nodes)))
    # 20 days before the real date: the roll-up's 180-day expiry is on Redis's clock
    first = datetime.now(ZONE).date() - timedelta(days=20)
    clock = FakeClock(datetime(first.year, first.month, first.day, 10, tzinfo=ZONE)
                      .timestamp())
    configs = {h: halls[h] for h in HALLS}
    store = TicketStore(client, configs, clock)
    store.archive = RecordArchive(client, tmp_path)
    reports = ReportStore(client, store)
    try:
        issued: dict[str, list[str]] = {h: [] for h in HALLS}
        days = []
        for i in range(3):
            for hall in HALLS:
                ticket, _ = await store.issue(hall, configs[hall].matters[0].code,
                                              Channel.KIOSK)
                issued[hall].append(ticket.id)
            days.append((first + timedelta(days=i)).strftime("%Y%m%d"))
            clock.advance(86400)
        for hall in HALLS:
            for day in days:
                await reports.rollup(hall, day)
        before = {h: [(await store.ticket(h, t)).to_dict() for t in issued[h]] for h in HALLS}
        clock.advance(10 * 86400)
        swept = await RecordArchiver(client, tmp_path, configs).sweep(HALLS, 7, clock())
        assert (swept.archived, swept.refused) == (9, 0)
        for hall in HALLS:
            assert not await client.exists(HallKeys(hall).ticket(issued[hall][0]))
            assert await client.exists(records_index_key(hall, days[0]))
            assert [(await store.ticket(hall, t)).to_dict() for t in issued[hall]] \
                == before[hall]
            assert len((await reports.day_tickets(hall, days[1]))[0]) == 1
    finally:
        await client.aclose()
