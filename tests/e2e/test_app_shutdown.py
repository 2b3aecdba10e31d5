"""A component whose stop hook never returns must not hang the app's shutdown."""

from __future__ import annotations

import asyncio
import time

import hall.app
from hall.component import Component
from hall.settings import Settings


def test_stuck_stop_hook_does_not_hang_shutdown(redis_url, halls, clock, monkeypatch):
    from starlette.testclient import TestClient

    stopped: list[str] = []

    async def stuck(app) -> None:
        await asyncio.Event().wait()  # never set, like a task stuck in a cancelled command

    async def quick(app) -> None:
        stopped.append("quick")

    real = hall.app.components
    monkeypatch.setattr(hall.app, "components", lambda: [
        *real(), Component("quick", stop=quick), Component("stuck", stop=stuck)])
    monkeypatch.setattr(hall.app, "STOP_SECONDS", 0.5)
    app = hall.app.create_app(Settings(redis_url=redis_url, start_worker=False), halls=halls,
                              clock=clock)
    with TestClient(app) as client:
        assert client.get("/api/halls").status_code == 200
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert stopped == ["quick"]  # the stuck one did not stop the ones started before it
