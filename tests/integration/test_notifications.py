"""Notifications through a real RQ worker (``hall worker``) to a local webhook receiver:
signed, retried after the gateway fails, never twice for one reason, dead-lettered when the
gateway keeps failing; and a checked-in citizen is told when called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from hall import pow
from hall.auth import Role
from hall.settings import Settings
from tests.conftest import Accounts
from tests.support import ROOT, free_port
from ticketing import notify
from ticketing.notify import Message, Notifier

SECRET = b"gateway-secret"
TZ = ZoneInfo("Asia/Shanghai")


class Receiver:
    """A gateway on loopback: fails the first request of each reason, and every 'doomed' one."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str, bytes]] = []
        self.attempts: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                data = json.loads(body)
                reason = data["reason"]
                outer.attempts[reason] = outer.attempts.get(reason, 0) + 1
                if outer.attempts[reason] == 1 or reason.startswith("doomed"):
                    self.send_response(500)
                else:
                    outer.received.append((data, self.headers["X-Hall-Signature"], body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, reason: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data, signature, body in self.received:
                if data["reason"] == reason:
                    assert notify.verify(SECRET, signature, body, time.time())
                    assert not notify.verify(b"other", signature, body, time.time())
                    return data
            time.sleep(0.05)
        raise AssertionError(f"no delivery for {reason}; attempts {self.attempts}")


@pytest.fixture
def gateway(redis_url: str) -> Iterator[Receiver]:
    receiver = Receiver()
    worker = subprocess.Popen(
        [sys.executable, "-m", "hall.cli", "worker"], cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url,
             "HALL_NOTIFY_URL": f"http://127.0.0.1:{receiver.port}/sms",
             "HALL_NOTIFY_SECRET": SECRET.decode()},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield receiver
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        receiver.server.shutdown()


@pytest.mark.asyncio(loop_scope="session")  # the aredis fixture lives on the session loop
async def test_signed_retried_once_per_reason_and_dead_lettered(
        gateway: Receiver, aredis: Any, redis_url: str) -> None:
    notifier = Notifier(aredis, Settings(redis_url=redis_url))
    message = Message("town", "reminder", "reminder:b1", "13800138000", "提醒", "Reminder")
    assert await notifier.send(message) is True
    assert await notifier.send(message) is False  # one reason, one message
    data = gateway.wait_for("reminder:b1")
    assert data["to"] == "13800138000" and data["text"] == "提醒"
    assert gateway.attempts["reminder:b1"] == 2  # failed once, retried
    assert await notifier.send(Message("town", "called", "doomed:1", "13800138001", "x", "x"))
    deadline = time.monotonic() + 90
    dead: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not dead:
        dead = await notify.dead_letters(aredis, "town")
        time.sleep(0.2)
    assert dead and dead[0]["reason"] == "doomed:1" and dead[0]["to"] == "138****8001"
    assert gateway.attempts["doomed:1"] == 1 + len(notify.RETRY_DELAYS)


def test_a_checked_in_citizen_is_told_when_called(gateway: Receiver, client: Any,
                                                  clock: Any, redis_url: str) -> None:
    accounts = Accounts(client)
    kiosk = accounts.device(Role.KIOSK, "town")
    clock.now = datetime(2026, 11, 18, 16, 0, tzinfo=TZ).timestamp()
    challenge = client.get("/api/halls/town/appointments/challenge").json()["challenge"]
    booked = client.post("/api/halls/town/appointments", json={
        "matter": "MZ-JZ", "day": "2026-11-19", "slot": "1000", "name": "王五",
        "phone": "13900139000", "challenge": challenge, "solution": pow.solve(challenge)})
    assert booked.status_code == 201, booked.text
    clock.now = datetime(2026, 11, 19, 9, 50, tzinfo=TZ).timestamp()
    checked = client.post("/api/halls/town/checkin", json={"code": booked.json()["code"]},
                          headers=kiosk)
    assert checked.status_code == 201
    ticket = checked.json()["ticket"]
    clerk = accounts.clerk("T02", "town")
    client.post("/api/halls/town/windows/2/login", headers=clerk)
    called = client.post("/api/halls/town/windows/2/call-next", headers=clerk).json()
    assert called["ticket"]["number"] == ticket["number"]
    data = gateway.wait_for(notify.reason("called", ticket["id"]))
    assert ticket["id"] not in json.dumps(data)  # the ticket's capability never leaves the hall
    assert data["to"] == "13900139000" and "2号窗口" in data["text"]
    # the dead-letter list is the managers'
    manager = accounts.user("boss", Role.MANAGER, "town")
    listed = client.get("/api/halls/town/notifications/dead", headers=manager)
    assert listed.status_code == 200 and listed.json() == {"dead": []}
    assert client.get("/api/halls/town/notifications/dead", headers=kiosk).status_code == 403
    sent = notify.sent_key("town", notify.reason("called", ticket["id"]))
    assert redis.Redis.from_url(redis_url).exists(sent) and ticket["id"] not in sent
