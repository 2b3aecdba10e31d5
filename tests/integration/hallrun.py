"""A busy hall driven through HTTP: kiosks issuing and clerks calling at once, over several apps.

Every HTTP answer is recorded, so a test can check what was acknowledged (2xx) against
what Redis holds afterwards. Clients survive a Redis or app crash: a failed request is
retried after a pause, and a clerk re-reads the window to learn where it stands.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role

PASSWORD = "concurrency-test-pw"
HALL = "district"
# (staff id, window) pairs of the district hall's roster; windows 1-5 and 12 serve A,
# window 6 serves B, window 12 also serves B.
CLERKS = [("S01", 1), ("S02", 2), ("S03", 3), ("S04", 4), ("S05", 5), ("S06", 6), ("S12", 12)]
MATTERS = ["QY-KB", "QY-KB", "JY-DJ", "SB-CB", "TS-BB", "TS-YY"]
RANK = {"waiting": 0, "called": 1, "serving": 2, "done": 3}


async def provision(redis_url: str, kiosks: int) -> list[str]:
    """Create the clerk accounts (password PASSWORD) and kiosk devices; return kiosk tokens."""
    client = AsyncRedis.from_url(redis_url)
    try:
        auth = AuthStore(client)
        for staff_id, _ in CLERKS:
            await auth.add_user(f"{HALL}-{staff_id}", PASSWORD, Role.CLERK, (HALL,), staff_id)
        return [await auth.add_device(Role.KIOSK, HALL, f"kiosk-{i}") for i in range(kiosks)]
    finally:
        await client.aclose()


@dataclass
class Record:
    """What the clients saw: acknowledged tickets, calls and errors."""

    issued: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (queue, number)
    issued_order: list[tuple[str, str]] = field(default_factory=list)  # (queue, number)
    sent_at: dict[str, float] = field(default_factory=dict)  # id -> monotonic time sent
    acked: dict[str, str] = field(default_factory=dict)  # id -> furthest acked status
    calls: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    # every 5xx answer: (monotonic time the request was sent, status, error code, path)
    server_errors: list[tuple[float, int, str, str]] = field(default_factory=list)

    def ack(self, ticket_id: str, status: str) -> None:
        if RANK[status] > RANK.get(self.acked.get(ticket_id, "waiting"), 0):
            self.acked[ticket_id] = status
        self.acked.setdefault(ticket_id, status)


class Hall:
    """Kiosk and clerk loops against a list of app base URLs."""

    def __init__(self, urls: list[str], kiosk_tokens: list[str], record: Record) -> None:
        self.urls = urls
        self.kiosks = kiosk_tokens
        self.record = record
        self.issuing = asyncio.Event()
        self.issuing.set()

    async def _send(self, client: httpx.AsyncClient, method: str, path: str,
                    **kw: Any) -> httpx.Response | None:
        """One request; None (and a pause) when the app or its Redis is down."""
        sent = time.monotonic()
        try:
            response = await client.request(method, path, **kw)
        except httpx.HTTPError:
            self.record.failures += 1
            await asyncio.sleep(0.05)
            return None
        self.record.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.record.failures += 1
            try:
                code = str(response.json()["error"]["code"])
            except (ValueError, KeyError, TypeError):
                code = "?"
            self.record.server_errors.append((sent, response.status_code, code, path))
            await asyncio.sleep(0.05)
            return None
        return response

    async def kiosk(self, index: int, count: int | None) -> None:
        """Issue tickets until ``count`` are acknowledged or issuing is stopped."""
        url = self.urls[index % len(self.urls)]
        headers = {"Authorization": f"Bearer {self.kiosks[index % len(self.kiosks)]}"}
        rng = random.Random(index)
        done = 0
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            while self.issuing.is_set() and (count is None or done < count):
                body: dict[str, Any] = {"matter": rng.choice(MATTERS)}
                if rng.random() < 0.1:
                    body["priority_group"] = "elderly"
                sent = time.monotonic()
                r = await self._send(client, "POST", f"/api/halls/{HALL}/tickets", json=body)
                if r is None:
                    continue
                assert r.status_code == 201, r.text
                t = r.json()
                self.record.issued[t["id"]] = (t["queue"], t["number"])
                self.record.issued_order.append((t["queue"], t["number"]))
                self.record.sent_at[t["id"]] = sent
                self.record.ack(t["id"], "waiting")
                done += 1
                await asyncio.sleep(rng.random() * 0.004)

    async def clerk(self, index: int) -> int:
        """Log in, then call, start and finish tickets until nobody waits and issuing stopped."""
        staff_id, window = CLERKS[index]
        url = self.urls[index % len(self.urls)]
        base = f"/api/halls/{HALL}/windows/{window}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            while True:
                r = await self._send(client, "POST", "/api/login", json={
                    "username": f"{HALL}-{staff_id}", "password": PASSWORD})
                if r is not None:
                    assert r.status_code == 200, r.text
                    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
                    break
            while (await self._send(client, "POST", f"{base}/login")) is None:
                pass
            served = 0
            while True:
                r = await self._send(client, "GET", base)
                if r is None:
                    continue
                assert r.status_code == 200, r.text
                current = r.json().get("current")
                status = r.json()["ticket"]["status"] if current else None
                if current is None:
                    r = await self._send(client, "POST", f"{base}/call-next")
                    if r is None:
                        continue
                    assert r.status_code == 200, r.text
                    ticket = r.json()["ticket"]
                    if ticket is None:
                        if not self.issuing.is_set():
                            return served
                        await asyncio.sleep(0.01)
                        continue
                    self.record.calls[ticket["id"]].append(window)
                    self.record.ack(ticket["id"], "called")
                    current, status = ticket["id"], "called"
                action = {"called": "start", "serving": "finish"}[status]
                r = await self._send(client, "POST", f"{base}/{action}")
                if r is None:
                    continue  # the window is re-read: the action may or may not have happened
                assert r.status_code == 200, r.text
                self.record.ack(current, r.json()["ticket"]["status"])
                served += action == "finish"
