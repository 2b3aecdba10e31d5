"""Helpers for tests against real ``hall serve`` processes: accounts, devices, sockets, browser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from tests.support import ROOT

PASSWORD = "correct horse battery"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _auth(redis_url: str, action: Any) -> Any:
    async def run() -> Any:
        client = AsyncRedis.from_url(redis_url)
        try:
            return await action(AuthStore(client))
        finally:
            await client.aclose()

    return asyncio.run(run())


def add_clerk(redis_url: str, staff_id: str, hall: str = "district") -> str:
    username = f"{hall}-{staff_id}"
    _auth(redis_url, lambda a: a.add_user(username, PASSWORD, Role.CLERK, (hall,), staff_id))
    return username


def add_privileged(redis_url: str, username: str, role: Role = Role.MANAGER,
                   hall: str = "district") -> pyotp.TOTP:
    """An admin/auditor/manager account with its second factor set up; returns its TOTP."""
    secret = pyotp.random_base32()
    halls = () if role is Role.ADMIN else (hall,)

    async def add(a: AuthStore) -> None:
        await a.add_user(username, PASSWORD, role, halls)
        await a.set_totp(username, secret)

    _auth(redis_url, add)
    return pyotp.TOTP(secret)


def privileged_token(base_url: str, username: str, totp: pyotp.TOTP) -> str:
    r = httpx.post(f"{base_url}/api/login", json={"username": username, "password": PASSWORD,
                                                   "code": totp.now()})
    r.raise_for_status()
    return str(r.json()["token"])


def add_device(redis_url: str, role: Role, hall: str = "district",
               window: int | None = None) -> str:
    token: str = _auth(redis_url, lambda a: a.add_device(role, hall, f"{role.value}-t", window))
    return token


def clerk_session(base_url: str, username: str) -> httpx.Client:
    """An HTTP client logged in as a clerk (bearer token)."""
    token = httpx.post(f"{base_url}/api/login",
                       json={"username": username, "password": PASSWORD}).json()["token"]
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                        timeout=10)


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://") + path


async def next_event(ws: Any, timeout: float = 5.0, *types: str) -> dict[str, Any]:
    """The next stream event (skipping hub messages) of a websockets client."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg.get("id") and (not types or msg["type"] in types):
            return dict(msg)


@contextmanager
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (a missing browser fails the test)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path



def enrol_second_factor(page: Any) -> None:
    """On the account page, enrol TOTP as a person would: start, read the secret beside the
    QR code, type the authenticator's code; ten recovery codes are shown."""
    from playwright.sync_api import expect

    page.click("#totp-start")
    expect(page.locator("#totp-image svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#totp-form input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button[type=submit]")
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
