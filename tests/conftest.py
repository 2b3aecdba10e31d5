"""Shared fixtures: one real Redis server per test process, a keyspace of its own per test.

Tests never FLUSHALL: each gets a fresh Redis database of the shared server
(``redis://…/<n>``, ``n`` unique in the process), so tests are independent of their order
and of what another test left behind, and pytest-xdist workers run side by side (each
worker process starts its own server).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pyotp
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from starlette.testclient import TestClient

from hall.app import create_app
from hall.auth import PRIVILEGED_ROLES, AuthStore, Role
from hall.config import HallConfig, bundled_hall_files, load_halls
from hall.services import services
from hall.settings import Settings
from tests.support import FakeClock, RedisServer
from ticketing.store import TicketStore

PASSWORD = "correct horse battery"
# Tests of other rules issue walk-in tickets at any hour; the calendar's refusal outside
# opening hours is tested on its own (tests/integration/test_appointments.py), with it on.
os.environ.setdefault("HALL_ALWAYS_OPEN", "1")
os.environ.setdefault("HALL_IDENTITY_SECRET", "test-identity-secret")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    # AOF on as in production, fsynced once a second: no test kills this shared server
    # (the durability tests start their own, fsyncing every write)
    fsync = os.environ.get("HALL_TEST_FSYNC", "everysec")
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")), appendfsync=fsync).start()
    yield server
    server.stop()


_databases = itertools.count(1)  # database 0 is left to tools that connect by default


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URL whose database no other test of this process has used."""
    url = redis_server.url_of(next(_databases))
    assert redis.Redis.from_url(url).dbsize() == 0
    return url


@pytest.fixture(scope="session")
def halls() -> dict[str, HallConfig]:
    return load_halls(bundled_hall_files())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[AsyncRedis]:
    client = AsyncRedis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def store(aredis: AsyncRedis, halls: dict[str, HallConfig], clock: FakeClock) -> TicketStore:
    return TicketStore(aredis, halls, clock)


@pytest.fixture
def client(redis_url: str, halls: dict[str, HallConfig], clock: FakeClock,
           tmp_path: Path) -> Iterator[TestClient]:
    # data_dir: a test's own folder, so no audio cached in the repo's ./var is announced
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=True)
    app = create_app(settings, halls=halls, clock=clock)
    # like a browser on the hall's own pages: state changes carry a same-origin Origin
    with TestClient(app, headers={"Origin": "http://testserver"}) as test_client:
        yield test_client


class Accounts:
    """Log people and devices in through the real auth store; returns bearer headers."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.auth: AuthStore = services(client.app).auth

    def _run(self, coro):  # type: ignore[no-untyped-def]
        return self.client.portal.call(lambda: coro)  # type: ignore[union-attr]

    def user(self, username: str, role: Role, hall: str = "district",
             staff_id: str | None = None) -> dict[str, str]:
        halls = () if role is Role.ADMIN else (hall,)
        self._run(self.auth.add_user(username, PASSWORD, role, halls, staff_id))
        login = {"username": username, "password": PASSWORD}
        if role in PRIVILEGED_ROLES:  # they sign in with a second factor
            secret = pyotp.random_base32()
            self._run(self.auth.set_totp(username, secret))
            login["code"] = pyotp.TOTP(secret).at(self.auth.clock())
        token = self.client.post("/api/login", json=login).json()["token"]
        return {"Authorization": f"Bearer {token}"}

    def clerk(self, staff_id: str, hall: str = "district") -> dict[str, str]:
        return self.user(f"{hall}-{staff_id}", Role.CLERK, hall, staff_id)

    def device(self, role: Role, hall: str = "district", window: int | None = None
               ) -> dict[str, str]:
        token = self._run(self.auth.add_device(role, hall, f"{role.value}-test", window))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def accounts(client: TestClient) -> Accounts:
    return Accounts(client)
