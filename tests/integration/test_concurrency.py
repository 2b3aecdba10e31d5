"""Many kiosks and clerks at once, through two real app processes sharing one real Redis."""

from __future__ import annotations

import asyncio
from collections import Counter

import redis

from tests.integration.hallrun import CLERKS, HALL, Hall, Record, provision
from tests.support import AppProcess, RedisServer
from ticketing.audit import audit_hall

KIOSKS = 12
TICKETS_PER_KIOSK = 30


async def test_kiosks_and_clerks_at_once_on_two_processes(
    redis_server: RedisServer, redis_url: str, two_apps: list[AppProcess]
) -> None:
    tokens = await provision(redis_url, KIOSKS)
    record = Record()
    hall = Hall([app.base_url for app in two_apps], tokens, record)

    clerks = [asyncio.create_task(hall.clerk(i)) for i in range(len(CLERKS))]
    await asyncio.gather(*(hall.kiosk(i, TICKETS_PER_KIOSK) for i in range(KIOSKS)))
    hall.issuing.clear()
    served = await asyncio.wait_for(asyncio.gather(*clerks), timeout=240)

    issued = KIOSKS * TICKETS_PER_KIOSK
    assert record.failures == 0, dict(record.statuses)
    assert len(record.issued) == issued
    # every number acknowledged to a kiosk is unique within its queue
    numbers = Counter(record.issued.values())
    assert [n for n, c in numbers.items() if c > 1] == []
    # every number of a queue was given out, with no gap: A001 … A0nn
    by_queue = Counter(q for q, _ in record.issued.values())
    for queue, count in by_queue.items():
        assert sorted(n for q, n in record.issued.values() if q == queue) == [
            f"{queue}{i:03d}" for i in range(1, count + 1)]
    # each ticket was handed to exactly one clerk, once; none was lost
    assert {tid: w for tid, w in record.calls.items() if len(w) > 1} == {}
    assert set(record.calls) == set(record.issued)
    windows_used = {w for ws in record.calls.values() for w in ws}
    assert windows_used == {w for _, w in CLERKS}  # every clerk really took part
    assert sum(served) == issued
    assert all(status == "done" for status in record.acked.values())

    # what Redis holds agrees: records, queues and the event stream
    report = audit_hall(redis.Redis.from_url(redis_url), HALL)
    assert report.ok, (report.summary(), report.double_calls, report.lost, report.inconsistent)
    assert report.tickets == issued
    assert report.by_status == {"done": issued}
    assert report.events["ticket.issued"] == issued
    assert report.events["ticket.called"] == issued
    assert report.events["ticket.serving"] == issued
    assert report.events["ticket.done"] == issued
    assert {tid: report.numbers[tid] for tid in record.issued} == {
        tid: number for tid, (_, number) in record.issued.items()}
    waiting = redis.Redis.from_url(redis_url).keys(f"hall:{{{HALL}}}:q:*")
    assert all(redis.Redis.from_url(redis_url).zcard(k) == 0 for k in waiting)
