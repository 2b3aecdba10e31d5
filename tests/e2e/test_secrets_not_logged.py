"""A day's secrets never reach the log of a real app process, in text and in JSON logs:
session and device tokens, one-time passwords, set-up links, ticket ids (API, page, QR
code, sockets)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from hall.auth import Role
from tests.e2e.live import PASSWORD, _auth, add_clerk, add_device, ws_url
from tests.support import AppProcess


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_issued_secret_in_the_log(redis_url: str, tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "app.log"
    app = AppProcess(redis_url, log_path=log, log_level="info",
                     extra_env={"HALL_LOG_FORMAT": fmt, "HALL_DATA": str(tmp_path / "data")})
    app.start()
    secrets: list[str] = []
    try:
        base = app.base_url
        kiosk, pad = add_device(redis_url, Role.KIOSK), add_device(redis_url, Role.PAD, window=1)
        secrets += [kiosk, pad]
        clerk = add_clerk(redis_url, "S01")
        r = httpx.post(f"{base}/api/login", json={"username": clerk, "password": PASSWORD})
        session = r.json()["token"]
        secrets += [session, PASSWORD]
        staff = {"Authorization": f"Bearer {session}"}
        onetime = _auth(redis_url, lambda a: _reset(a, clerk))
        secrets.append(onetime)
        r = httpx.post(f"{base}/api/login", json={"username": clerk, "password": onetime})
        secrets.append(r.json()["token"])
        httpx.post(f"{base}/api/login", json={"username": clerk, "password": "wrong " + onetime})
        staff = {"Authorization": f"Bearer {r.json()['token']}"}
        r = httpx.post(f"{base}/api/password", headers=staff,
                       json={"current": onetime, "new": "the second long passphrase"})
        secrets += ["the second long passphrase", r.json()["token"]]
        staff = {"Authorization": f"Bearer {r.json()['token']}"}
        setup, _ = _auth(redis_url, lambda a: a.open_setup(clerk))
        assert httpx.get(f"{base}/account").status_code == 200  # the fragment stays local
        httpx.post(f"{base}/api/setup/check", json={"token": setup})
        r = httpx.post(f"{base}/api/setup", json={"token": setup,
                                                  "password": "the third long passphrase"})
        assert r.status_code == 200, r.text
        httpx.post(f"{base}/api/setup", json={"token": setup, "password": "used twice, refused"})
        secrets += [setup, "the third long passphrase", r.json()["token"]]
        staff = {"Authorization": f"Bearer {r.json()['token']}"}
        tickets = []
        for _ in range(3):
            issued = httpx.post(f"{base}/api/halls/district/tickets", json={"matter": "QY-KB"},
                                headers={"Authorization": f"Bearer {kiosk}"})
            assert issued.status_code == 201, issued.text
            tickets.append(issued.json()["id"])
        secrets += tickets
        first, second, third = tickets
        for path in (f"/h/district/t/{first}", f"/h/district/t/{first}/qr.svg",
                     f"/api/halls/district/tickets/{first}", f"/h/district/kiosk?device={kiosk}",
                     f"/h/district/pad/1?device={pad}", f"/api/me?device={session}"):
            assert httpx.get(base + path).status_code < 500
        httpx.post(f"{base}/api/halls/district/tickets/{third}/cancel", json={})
        with connect(ws_url(base, f"/ws/halls/district/tickets/{second}")) as ws:
            ws.recv(timeout=5)
        with connect(ws_url(base, f"/ws/halls/district/pads/1?device={pad}")) as ws:
            ws.recv(timeout=5)
        assert httpx.post(f"{base}/api/halls/district/windows/1/login",
                          headers=staff).status_code == 200
        assert httpx.post(f"{base}/api/halls/district/windows/1/call-next",
                          headers=staff).status_code == 200
        credentials = (tmp_path / "data" / "initial-credentials.txt").read_text()
        secrets += re.findall(r"(?:#setup=|device=)(\S+)", credentials)
    finally:
        app.stop()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "call-next" in text and "/ws/halls/district/pads/1" in text  # lines were logged
    leaked = [s for s in secrets if s in text]
    assert not leaked, [line for line in text.splitlines() if any(s in line for s in leaked)]


async def _reset(auth: object, username: str) -> str:
    from hall.auth import AuthStore

    assert isinstance(auth, AuthStore)
    password = "one-time " + "x7Qp" * 4
    await auth.set_password(username, password, must_change=True)
    return password

