"""After Redis restarts, the app answers as soon as Redis is back: stale pooled
connections are reconnected and their command resent (redis-py's asyncio ``Retry``),
never turned into a 503 ``store_unavailable``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from hall.auth import Role
from tests.e2e.live import PASSWORD, _auth
from tests.support import AppProcess, RedisServer


def test_no_503_once_redis_is_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    app = AppProcess(server.url, extra_env={"HALL_DATA": str(tmp_path / "app")},
                     log_path=tmp_path / "app.log").start()
    try:
        _auth(server.url, lambda a: a.add_user("district-S01", PASSWORD, Role.CLERK,
                                               ("district",), "S01"))
        token = httpx.post(f"{app.base_url}/api/login", json={
            "username": "district-S01", "password": PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def burst(n: int) -> list[int]:
            async with httpx.AsyncClient(base_url=app.base_url, headers=headers,
                                         timeout=10) as client:
                answers = await asyncio.gather(*(client.get("/api/me") for _ in range(n)))
            assert all(a.status_code == 503 or a.json()["user"] for a in answers)
            return [a.status_code for a in answers]

        assert set(asyncio.run(burst(30))) == {200}  # many pooled connections now
        server.restart(kill=True)  # kill -9; the AOF (fsync always) keeps the session
        for _ in range(3):
            statuses = asyncio.run(burst(30))
            assert statuses.count(503) == 0, statuses
    finally:
        app.stop()
        server.stop()
