"""The staff audit route answers an archived day (moved from Redis to the data folder) with
the same entries as before it moved."""

from __future__ import annotations

import redis
from starlette.testclient import TestClient

from hall.audit_archiver import AuditArchiver
from hall.audit_store import day_key, trail_of
from hall.auth import Role
from tests.conftest import Accounts
from tests.support import FakeClock

D = "/api/halls/district"


def test_an_archived_day_reads_as_before(client: TestClient, accounts: Accounts,
                                         clock: FakeClock, redis_url: str) -> None:
    kiosk = accounts.device(Role.KIOSK)
    auditor = accounts.user("eye", Role.AUDITOR)
    for _ in range(3):
        assert client.post(f"{D}/tickets", json={"matter": "QY-KB"},
                           headers=kiosk).status_code == 201
    trail = trail_of(client.app)
    assert trail is not None
    day = trail.day("district", clock())
    asked = {"from": f"{day[:4]}-{day[4:6]}-{day[6:]}", "format": "json"}

    def read() -> list[dict[str, object]]:
        r = client.get(f"{D}/audit", params=asked, headers=auditor)
        assert r.status_code == 200, r.text
        return [e for e in r.json()["entries"] if e["action"] != "audit.read"]

    before = read()
    assert [e["action"] for e in before].count("ticket.issued") == 3
    clock.advance(8 * 86400)
    moved = client.portal.call(  # type: ignore[union-attr]
        AuditArchiver(trail).archive_hall, "district", 7, clock())
    assert moved == 1
    assert not redis.Redis.from_url(redis_url).exists(day_key("district", day))
    assert read() == before
    csv = client.get(f"{D}/audit", params={**asked, "format": "csv"}, headers=auditor)
    assert csv.status_code == 200 and csv.text.count("ticket.issued") == 3
