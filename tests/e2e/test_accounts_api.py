"""Accounts and sessions through the real app: policy, forced change, throttling, timeouts,
second factor, devices, and that no token is a Redis key name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from starlette.testclient import TestClient

from hall.app import create_app
from hall.auth import Role
from hall.auth.tokens import Tokens, user_key
from hall.config import HallConfig
from hall.settings import Settings
from tests.conftest import PASSWORD, Accounts
from ticketing.keys import HallKeys

D = "/api/halls/district"


@pytest.fixture
def client(redis_url: str, halls: dict[str, HallConfig], clock: Any,
           tmp_path: Path) -> Iterator[TestClient]:
    """The app with its sessions, throttling and TOTP on the test's clock."""
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path)
    app = create_app(settings, halls=halls, clock=clock, auth_clock=clock)
    with TestClient(app, headers={"Origin": "http://testserver"}) as test_client:
        yield test_client


def err(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def login(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> Any:
    client.cookies.clear()
    return client.post("/api/login", json={"username": username, "password": password, **extra})


def setup(client: TestClient, link: str, password: str) -> Any:
    """Use a set-up link as its page does: the token from the fragment, in a JSON body."""
    client.cookies.clear()
    r = client.post("/api/setup", json={"token": link.split("#setup=", 1)[1],
                                         "password": password})
    assert r.status_code == 200, r.text
    return r


def bearer(response: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_password_policy_refuses_short_and_common(client: TestClient, accounts: Accounts) -> None:
    auth = accounts.auth
    for weak in ("short-pw", "password1234", "Password123!", "aaaaaaaaaaaaaa",
                 "district-S01-secret"):
        try:
            accounts._run(auth.add_user("district-S01", weak, Role.CLERK, ("district",), "S01"))
        except Exception as exc:
            assert getattr(exc, "code", "") == "weak_password", (weak, exc)
        else:
            raise AssertionError(f"{weak!r} was accepted")


def test_first_login_must_change_the_password_then_other_sessions_end(
        client: TestClient, accounts: Accounts) -> None:
    accounts._run(accounts.auth.add_user("district-S01", PASSWORD, Role.CLERK, ("district",),
                                         "S01", must_change=True))
    first = login(client, "district-S01")
    assert first.status_code == 200 and first.json()["user"]["pending"] == "password"
    second = bearer(login(client, "district-S01"))
    err(client.post(f"{D}/windows/1/login", headers=bearer(first)), 403,
        "password_change_required")
    err(client.post("/api/password", headers=bearer(first),
                    json={"current": PASSWORD, "new": "password1234"}), 422, "weak_password")
    changed = client.post("/api/password", headers=bearer(first),
                          json={"current": PASSWORD, "new": "a much better passphrase"})
    assert changed.status_code == 200 and changed.json()["user"]["pending"] is None
    # every session of the account ended, the one that changed it included; the new works
    for old in (bearer(first), second):
        assert client.get("/api/me", headers=old).json()["user"] is None
    assert client.post(f"{D}/windows/1/login", headers=bearer(changed)).status_code == 200
    err(login(client, "district-S01"), 401, "bad_credentials")


def test_lock_out_grows_then_expires(client: TestClient, accounts: Accounts, clock: Any) -> None:
    accounts._run(accounts.auth.add_user("district-S01", PASSWORD, Role.CLERK, ("district",)))
    for _ in range(3):  # three free failures
        err(login(client, "district-S01", "wrong password!"), 401, "bad_credentials")
    err(login(client, "district-S01"), 429, "too_many_attempts")  # even the right one waits
    clock.advance(1.0)
    err(login(client, "district-S01", "wrong password!"), 401, "bad_credentials")  # 4th
    clock.advance(1.0)
    err(login(client, "district-S01"), 429, "too_many_attempts")  # now 2 s after the 4th
    for _ in range(6):  # up to ten failures in a row: a 15-minute lock
        clock.advance(60.0)
        err(login(client, "district-S01", "wrong password!"), 401, "bad_credentials")
    clock.advance(14 * 60.0)
    locked = login(client, "district-S01")
    err(locked, 429, "too_many_attempts")
    assert "locked" in locked.json()["error"]["message"]
    clock.advance(61.0)
    assert login(client, "district-S01").status_code == 200


def test_source_address_is_throttled_across_accounts(client: TestClient, accounts: Accounts
                                                     ) -> None:
    for i in range(10):
        err(login(client, f"nobody-{i}", "wrong password!"), 401, "bad_credentials")
    err(login(client, "someone-else", "wrong password!"), 429, "too_many_attempts")


def test_idle_and_absolute_timeouts(client: TestClient, accounts: Accounts, clock: Any) -> None:
    headers = accounts.clerk("S01")
    clock.advance(29 * 60)
    assert client.get("/api/me", headers=headers).json()["user"]["name"] == "district-S01"
    clock.advance(31 * 60)  # idle for 31 minutes
    assert client.get("/api/me", headers=headers).json()["user"] is None
    headers = accounts.clerk("S02")
    for _ in range(12 * 3 - 1):  # active every 20 minutes: alive until 12 h
        clock.advance(20 * 60)
        assert client.get("/api/me", headers=headers).json()["user"] is not None
    clock.advance(20 * 60)
    assert client.get("/api/me", headers=headers).json()["user"] is None


def test_admin_changes_end_sessions_at_once(client: TestClient, accounts: Accounts) -> None:
    admin = accounts.user("root", Role.ADMIN)
    clerk = accounts.clerk("S01")
    assert client.post("/api/users/district-S01", headers=admin,
                       json={"disabled": True}).status_code == 200
    assert client.get("/api/me", headers=clerk).json()["user"] is None
    err(login(client, "district-S01"), 401, "bad_credentials")
    assert client.post("/api/users/district-S01", headers=admin,
                       json={"disabled": False}).status_code == 200
    clerk = bearer(login(client, "district-S01"))
    reset = client.post("/api/users/district-S01/password", headers=admin)
    assert reset.status_code == 201 and "password" not in reset.json()
    assert client.get("/api/me", headers=clerk).json()["user"] is None
    err(login(client, "district-S01"), 401, "bad_credentials")  # the old password is gone
    fresh = setup(client, reset.json()["setup_link"], "a brand new passphrase")
    assert fresh.json()["user"]["name"] == "district-S01" and not fresh.json()["user"]["pending"]
    users = client.get("/api/users", headers=admin).json()["users"]
    assert {"username", "role", "disabled"} <= set(users[0])
    assert all("password" not in str(sorted(u)) for u in users)
    created = client.post("/api/users", headers=admin, json={
        "username": "district-S02", "role": "clerk", "halls": "district", "staff_id": "S02"})
    assert created.status_code == 201 and created.json()["setup_link"].startswith(
        "/account#setup=")
    assert setup(client, created.json()["setup_link"], "a second new passphrase").json()[
        "user"]["name"] == "district-S02"
    assert client.delete("/api/users/district-S02", headers=admin).status_code == 200
    err(client.get("/api/users", headers=clerk), 401, "unauthorized")


def test_privileged_roles_sign_in_with_a_second_factor(client: TestClient, accounts: Accounts,
                                                       clock: Any) -> None:
    accounts._run(accounts.auth.add_user("boss", PASSWORD, Role.MANAGER, ("district",)))
    first = login(client, "boss")
    assert first.json()["user"]["pending"] == "totp"
    err(client.get(f"{D}/dashboard", headers=bearer(first)), 403,
        "second_factor_enrolment_required")
    enrol = client.post("/api/totp/enrol", headers=bearer(first)).json()
    assert enrol["uri"].startswith("otpauth://totp/") and "<svg" in enrol["qr_svg"]
    totp = pyotp.TOTP(enrol["secret"])
    err(client.post("/api/totp/confirm", headers=bearer(first), json={"code": "000000"}),
        422, "bad_second_factor")
    done = client.post("/api/totp/confirm", headers=bearer(first),
                       json={"code": totp.at(clock())})
    assert done.status_code == 200 and done.json()["user"]["pending"] is None
    recovery = done.json()["recovery_codes"]
    assert len(recovery) == 10
    err(login(client, "boss"), 401, "second_factor_required")
    clock.advance(30)
    assert login(client, "boss", code=totp.at(clock())).status_code == 200
    err(login(client, "boss", code=totp.at(clock())), 401, "bad_second_factor")  # replayed
    assert login(client, "boss", code=recovery[0]).status_code == 200
    err(login(client, "boss", code=recovery[0]), 401, "bad_second_factor")  # used once


def test_devices_revoked_or_expired_stop_at_once(client: TestClient, accounts: Accounts,
                                                 clock: Any) -> None:
    clock.now = 1_794_963_600.0 + 3600  # Wed 2026-11-18 10:00 in the hall: open
    admin = accounts.user("root", Role.ADMIN)
    auth = accounts.auth
    kiosk = accounts._run(auth.add_device(Role.KIOSK, "district", "k1"))
    short = accounts._run(auth.add_device(Role.KIOSK, "district", "k2", expires=clock() + 60))
    for token in (kiosk, short):
        assert client.post(f"{D}/tickets", json={"matter": "QY-KB"},
                           headers={"Authorization": f"Bearer {token}"}).status_code == 201
    clock.advance(61)
    err(client.post(f"{D}/tickets", json={"matter": "QY-KB"},
                    headers={"Authorization": f"Bearer {short}"}), 401, "unauthorized")
    devices = client.get("/api/devices", headers=admin).json()["devices"]
    assert {d["name"]: d["expired"] for d in devices} == {"k1": False, "k2": True}
    assert kiosk not in str(devices)
    k1 = next(d["id"] for d in devices if d["name"] == "k1")
    assert client.delete(f"/api/devices/{k1}", headers=admin).status_code == 200
    err(client.post(f"{D}/tickets", json={"matter": "QY-KB"},
                    headers={"Authorization": f"Bearer {kiosk}"}), 401, "unauthorized")


def test_a_kiosk_revoked_elsewhere_issues_nothing_more(client: TestClient, accounts: Accounts,
                                                       clock: Any, redis_url: str) -> None:
    """The app keeps resolved kiosk tokens (hall.auth.tokens.DeviceCache); a revocation by
    another process (the CLI, another app) still stops the very next issue: the issue
    script checks the device's record in its own step (revocation delay zero)."""
    clock.now = 1_794_963_600.0 + 3600  # Wed 2026-11-18 10:00 in the hall: open
    kiosk = accounts._run(accounts.auth.add_device(Role.KIOSK, "district", "k1"))
    headers = {"Authorization": f"Bearer {kiosk}"}
    for _ in range(2):  # the second issue is served from the app's cache
        assert client.post(f"{D}/tickets", json={"matter": "QY-KB"},
                           headers=headers).status_code == 201
    queue = HallKeys("district").queue("A")
    plain = redis.Redis.from_url(redis_url)
    waiting = plain.zcard(queue)

    async def revoke_elsewhere() -> list[str]:
        other = AsyncRedis.from_url(redis_url)
        try:
            return await Tokens(other, clock, 3600, 86400).revoke_device("k1")
        finally:
            await other.aclose()

    assert len(accounts._run(revoke_elsewhere())) == 1
    err(client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=headers),
        401, "unauthorized")
    assert plain.zcard(queue) == waiting  # nothing issued
    err(client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=headers),
        401, "unauthorized")


def test_tokens_never_in_the_url_or_a_key_name(client: TestClient, accounts: Accounts,
                                               redis_url: str) -> None:
    clerk = accounts.clerk("S01")
    token = clerk["Authorization"].split()[1]
    kiosk = accounts.device(Role.KIOSK)["Authorization"].split()[1]
    client.cookies.clear()
    assert client.get(f"/api/me?device={token}").json()["user"] is None
    assert client.get(f"/api/me?token={token}").json()["user"] is None
    assert client.get(f"/api/me?device={kiosk}").json()["user"] is None  # HTTP: headers only
    keys = b" ".join(redis.Redis.from_url(redis_url).keys("*")).decode()
    assert token not in keys and kiosk not in keys


def test_cross_site_requests_are_refused(client: TestClient, accounts: Accounts) -> None:
    accounts.clerk("S01")  # the session cookie is set on the client
    ok = client.post(f"{D}/windows/1/login")
    assert ok.status_code == 200  # same origin (the client sends Origin like a browser)
    bare = TestClient(client.app)  # no default Origin header; the same cookie
    bare.cookies = client.cookies
    for sender, headers, body in (
        (client, {"Origin": "http://testserver:8001"}, None),              # another port
        (client, {"Origin": "http://evil.example"}, None),                 # another site
        (bare, {"Sec-Fetch-Site": "same-site"}, None),                     # a sibling
        (bare, {}, None),                                                  # unproven
        (client, {"Content-Type": "text/plain"}, b'{"reason": "x"}'),      # a form post
    ):
        response = sender.post(f"{D}/windows/1/pause", headers=headers, content=body)
        err(response, 403, "cross_site_request")
    assert client.post(f"{D}/windows/1/pause", json={}).status_code == 200


def test_every_page_sends_security_headers(client: TestClient) -> None:
    for path in ("/", "/h/district/board", "/h/district/kiosk", "/api/halls"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_one_clerk_holds_one_window(client: TestClient, accounts: Accounts) -> None:
    s01 = accounts.clerk("S01")
    assert client.post(f"{D}/windows/1/login", headers=s01).status_code == 200
    err(client.post(f"{D}/windows/2/login", headers=s01), 409, "clerk_busy")
    assert client.post(f"{D}/windows/1/logout", headers=s01).status_code == 200
    assert client.post(f"{D}/windows/2/login", headers=s01).status_code == 200
    err(client.post(f"{D}/windows/1/pause", headers=s01), 403, "not_your_window")


def test_a_kiosk_issues_only_its_priority_groups(client: TestClient, accounts: Accounts,
                                                 clock: Any) -> None:
    clock.now = 1_794_963_600.0 + 3600  # Wed 10:00 in the hall: open
    token = accounts._run(accounts.auth.add_device(Role.KIOSK, "district", "front",
                                                   priority_groups=("elderly",)))
    kiosk = {"Authorization": f"Bearer {token}"}
    ok = client.post(f"{D}/tickets", json={"matter": "QY-KB", "priority_group": "elderly"},
                     headers=kiosk)
    assert ok.status_code == 201, ok.text
    err(client.post(f"{D}/tickets", json={"matter": "QY-KB", "priority_group": "military"},
                    headers=kiosk), 403, "priority_group_not_allowed")


def test_an_account_from_before_generations_keeps_its_sessions(
        client: TestClient, accounts: Accounts, redis_url: str) -> None:
    """Accounts written by the earlier code have no ``gen``: their sessions must work."""
    accounts._run(accounts.auth.add_user("district-S01", PASSWORD, Role.CLERK, ("district",)))
    redis.Redis.from_url(redis_url).hdel(user_key("district-S01"), "gen", "must_change",
                                         "disabled")
    session = bearer(login(client, "district-S01"))
    assert client.get("/api/me", headers=session).json()["user"]["name"] == "district-S01"
    accounts._run(accounts.auth.remove("district-S01"))
    assert client.get("/api/me", headers=session).json()["user"] is None


def test_a_set_up_link_works_once_expires_and_ends_old_sessions(
        client: TestClient, accounts: Accounts, clock: Any, redis_url: str) -> None:
    auth = accounts.auth
    clerk = accounts.clerk("S01")  # a session of the account, before its reset
    token, expires = accounts._run(auth.open_setup("district-S01"))
    assert client.get("/api/me", headers=clerk).json()["user"] is None  # reset: sessions end
    err(login(client, "district-S01"), 401, "bad_credentials")  # and its password too
    # the link names its account; a weak password is refused and leaves the link usable
    assert client.post("/api/setup/check", json={"token": token}).json() == {
        "username": "district-S01"}
    err(client.post("/api/setup", json={"token": token, "password": "password1234"}),
        422, "weak_password")
    signed_in = client.post("/api/setup", json={"token": token, "password": "mine, and long"})
    assert signed_in.status_code == 200, signed_in.text
    session = bearer(signed_in)
    assert client.get("/api/me", headers=session).json()["user"]["name"] == "district-S01"
    # used once: the same link again is refused, and changes nothing
    err(client.post("/api/setup", json={"token": token, "password": "someone else's pw"}),
        401, "setup_link_invalid")
    err(client.post("/api/setup/check", json={"token": token}), 401, "setup_link_invalid")
    assert client.get("/api/me", headers=session).json()["user"]["name"] == "district-S01"
    assert login(client, "district-S01", "mine, and long").status_code == 200
    # a newer link replaces the older one; an expired link is refused (the app's clock)
    older, _ = accounts._run(auth.open_setup("district-S01"))
    newer, expires = accounts._run(auth.open_setup("district-S01"))
    err(client.post("/api/setup/check", json={"token": older}), 401, "setup_link_invalid")
    clock.advance(expires - clock() + 1)
    err(client.post("/api/setup", json={"token": newer, "password": "late but long enough"}),
        401, "setup_link_invalid")
    # Redis never holds a token, only its digest
    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter("*auth*"):
        assert newer.encode() not in key and token.encode() not in key
        if r.type(key) == b"string":
            assert newer.encode() not in r.get(key)  # type: ignore[operator]


def test_an_account_added_without_a_password_cannot_sign_in_before_its_set_up(
        client: TestClient, accounts: Accounts) -> None:
    auth = accounts.auth
    accounts._run(auth.add_user("boss", None, Role.MANAGER, ("district",)))
    for guess in ("", "x" * 12):
        assert login(client, "boss", guess).status_code in (401, 422)
    token, _ = accounts._run(auth.open_setup("boss"))
    done = client.post("/api/setup", json={"token": token, "password": "the manager's own pw"})
    assert done.json()["user"]["pending"] == "totp"  # a manager enrols the second factor next
