"""Over HTTP, an archived day (its ticket records moved from Redis to the data folder) reads
as before: the citizen's ticket link, its rating, the staff view of the ticket and the
report."""

from __future__ import annotations

import redis
from starlette.testclient import TestClient

from hall.auth import Role
from hall.services import services
from tests.conftest import Accounts
from tests.e2e.test_ratings_api import serve_one
from tests.support import FakeClock
from ticketing.record_archive import records_index_key
from ticketing.record_archiver import RecordArchiver
from ticketing.report_store import ReportStore
from ticketing.store import STORE

HALL = "/api/halls/district"


def test_an_archived_ticket_and_its_day_read_as_before(client: TestClient, accounts: Accounts,
                                                     clock: FakeClock, redis_url: str) -> None:
    ticket_id, _, _ = serve_one(client, accounts)
    waiting = client.post(f"{HALL}/tickets", json={"matter": "QY-KB"},
                          headers=accounts.device(Role.KIOSK)).json()["id"]
    assert client.post(f"{HALL}/tickets/{ticket_id}/rating",
                       json={"level": "dissatisfied", "comment": "慢"}).status_code == 201
    manager = accounts.user("mgr", Role.MANAGER)
    store = services(client.app).get(STORE)
    iso = "2026-11-18"  # the FakeClock's day
    day = "20261118"
    asked = f"{HALL}/reports?from={iso}&to={iso}"

    def read() -> list[object]:
        answers = [client.get(f"{HALL}/tickets/{t}") for t in (ticket_id, waiting)]
        answers += [client.get(f"{HALL}/tickets/{t}", headers=manager) for t in (ticket_id,)]
        answers.append(client.get(f"{HALL}/tickets/{ticket_id}/rating"))
        answers.append(client.get(asked, headers=manager))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        return [r.json() for r in answers]

    clock.advance(86400)
    client.portal.call(  # type: ignore[union-attr]
        ReportStore(store.redis, store).rollup, "district", day)
    before = read()
    clock.advance(7 * 86400)
    archiver = RecordArchiver(store.redis, services(client.app).settings.data_dir, store.halls)
    moved = client.portal.call(  # type: ignore[union-attr]
        archiver.archive_hall, "district", 7, clock())
    assert moved == 1
    sync = redis.Redis.from_url(redis_url)
    assert sync.exists(records_index_key("district", day))
    assert not sync.exists(f"hall:{{district}}:t:{ticket_id}", f"hall:{{district}}:t:{waiting}")
    assert read() == before
    assert client.get(f"{HALL}/tickets/not-a-ticket-id").status_code == 404
