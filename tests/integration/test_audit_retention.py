"""The audit trail's retention: a hall-day's entries are deleted ``RETENTION_DAYS`` after the
day's first entry, not before, and the trail still verifies afterwards.

A day list expires on Redis's own clock (``EXPIRE``), which the test's controllable clock
does not move: ``move_expiry_clock`` makes the same time pass for Redis's expiry as for
the hall's clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import redis
from redis.asyncio import Redis as AsyncRedis

from hall.audit_store import AuditTrail, day_key
from hall.audit_trail import RETENTION_DAYS
from tests.support import FakeClock, move_expiry_clock

ZONE = ZoneInfo("Asia/Shanghai")


async def test_a_day_is_deleted_after_its_retention_and_the_trail_still_verifies(
        redis_url: str, clock: FakeClock) -> None:
    client, sync = AsyncRedis.from_url(redis_url), redis.Redis.from_url(redis_url)
    trail = AuditTrail(client, {"district": ZONE}, clock)

    def wait(seconds: float) -> None:
        clock.advance(seconds)
        move_expiry_clock(sync, seconds)

    clock.now = datetime(2026, 11, 18, 10, tzinfo=ZONE).timestamp()  # first entry: 10:00
    days = []
    for i in range(3):
        await trail.record("district", "test.retention", target=f"t{i}")
        await trail.record("district", "test.retention", target=f"t{i}-2")
        days.append(trail.day("district", clock()))
        wait(86400)
    # the first day's last morning: 09:00, RETENTION_DAYS later, its entries are all kept
    wait((RETENTION_DAYS - 3) * 86400 - 3600)
    assert len(await trail.read_day("district", days[0])) == 2
    assert await trail.verify("district") == (6, None)
    # 11:00: past its retention, the day is gone; the next days are kept and still verify
    wait(2 * 3600)
    assert await trail.read_day("district", days[0]) == []
    assert [len(await trail.read_day("district", d)) for d in days[1:]] == [2, 2]
    assert await trail.verify("district") == (4, None)
    # a day inside its retention deleted by hand is still named
    sync.delete(day_key("district", days[1]))
    _, broken = await trail.verify("district")
    assert broken is not None and broken.day == days[1] and "deleted" in broken.problem
    await client.aclose()
