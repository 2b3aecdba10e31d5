"""Bad input over HTTP: the documented 4xx JSON error with a stable code, and nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from hall.auth import Role
from hall.services import services
from tests.conftest import Accounts

D = "/api/halls/district"


def hall_state(redis_url: str) -> dict[bytes, Any]:
    """Every hall key with its value (sessions under auth:* may change; halls may not).

    The audit trail (``hall:{h}:audit:*``) is left out: a refusal is recorded there.
    """
    r = redis.Redis.from_url(redis_url)
    out: dict[bytes, Any] = {}
    for key in r.scan_iter(match="hall:*"):
        if b":audit:" in key:
            continue
        kind = r.type(key)
        out[key] = {
            b"hash": r.hgetall, b"zset": lambda k: r.zrange(k, 0, -1, withscores=True),
            b"list": lambda k: r.lrange(k, 0, -1), b"stream": r.xlen, b"string": r.get,
            b"set": r.smembers,
        }[kind](key)
    r.close()
    return out


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


@pytest.fixture
def hall(client: TestClient, accounts: Accounts) -> Iterator[dict[str, Any]]:
    """A district hall with a kiosk, clerk S01 at window 1 serving A001, and A002 waiting."""
    kiosk = accounts.device(Role.KIOSK)
    s01 = accounts.clerk("S01")
    first = client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
    second = client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
    assert client.post(f"{D}/windows/1/login", headers=s01).status_code == 200
    called = client.post(f"{D}/windows/1/call-next", headers=s01).json()["ticket"]
    assert called["id"] == first["id"]
    client.cookies.clear()  # logging in set a session cookie; requests here say who they are
    yield {"kiosk": kiosk, "s01": s01, "first": first, "second": second}


@pytest.fixture
def unchanged(redis_url: str, hall: dict[str, Any]) -> Iterator[None]:
    """Every request in the test is refused: the hall's keys must be exactly as before."""
    before = hall_state(redis_url)
    yield
    assert hall_state(redis_url) == before


# ---- 400 malformed -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe\x00",
                                  b"[" * 5000 + b"]" * 5000, b'{"matter": "QY-KB"', b"null"])
def test_malformed_body_is_400(client: TestClient, hall: dict[str, Any], unchanged: None,
                               body: bytes) -> None:
    response = client.post(f"{D}/tickets", content=body, headers={
        **hall["kiosk"], "content-type": "application/json"})
    assert_error(response, 400, "malformed_request")


def test_window_number_must_be_a_number(client: TestClient, hall: dict[str, Any],
                                        unchanged: None) -> None:
    assert_error(client.get(f"{D}/windows/one"), 400, "malformed_request")
    assert_error(client.post(f"{D}/windows/-1/call-next", headers=hall["s01"]), 400,
                 "malformed_request")


# ---- 422 invalid field -------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {},                                                    # matter missing
    {"matter": 5},
    {"matter": ["QY-KB"]},
    {"matter": "QY-KB", "appointment": "yes"},
    {"matter": "QY-KB", "appointment": 1},
    {"matter": "QY-KB", "priority_group": True},
    {"matter": "QY-KB", "priority_group": "vip"},          # not one of the hall's groups
    {"matter": "QY-KB", "colour": "red"},                  # unknown field
    {"matter": "Q" * 201},                                 # too long
])
def test_wrong_types_and_unknown_fields_are_422(
    client: TestClient, hall: dict[str, Any], unchanged: None, body: dict[str, Any]
) -> None:
    assert_error(client.post(f"{D}/tickets", json=body, headers=hall["kiosk"]), 422,
                 "invalid_field")


@pytest.mark.parametrize("body", [
    {"window": "8"}, {"window": 8.5}, {"window": True}, {"queue": 4}, {"queue": "AB"},
    {"window": 0}, {"note": "x" * 501, "queue": "D"}, {"queue": "D", "window": 8}, {},
    {"queue": "D", "clerk": "S08"},
])
def test_bad_transfer_bodies_are_422(client: TestClient, hall: dict[str, Any], unchanged: None,
                                     body: dict[str, Any]) -> None:
    assert_error(client.post(f"{D}/windows/1/transfer", json=body, headers=hall["s01"]), 422,
                 "invalid_field")


def test_bodies_on_bodiless_actions_must_be_empty_objects(
    client: TestClient, hall: dict[str, Any], unchanged: None
) -> None:
    assert_error(client.post(f"{D}/windows/1/start", json={"force": True}, headers=hall["s01"]),
                 422, "invalid_field")
    assert_error(client.post(f"{D}/tickets/{hall['second']['id']}/cancel", json={"why": "x"}),
                 422, "invalid_field")


def test_login_with_wrong_types(client: TestClient, hall: dict[str, Any], unchanged: None
                                ) -> None:
    assert_error(client.post("/api/login", json={"username": 1, "password": "x"}), 422,
                 "invalid_field")
    assert_error(client.post("/api/login", json={"username": "nobody", "password": "wrong-pw"}),
                 401, "bad_credentials")


# ---- 404 unknown ids ---------------------------------------------------------------------


def test_unknown_hall_matter_window_ticket_queue(
    client: TestClient, hall: dict[str, Any], unchanged: None
) -> None:
    kiosk, s01 = hall["kiosk"], hall["s01"]
    assert_error(client.get("/api/halls/atlantis"), 404, "unknown_hall")
    assert_error(client.get("/api/halls/atlantis/state"), 404, "unknown_hall")
    assert_error(client.post("/api/halls/atlantis/tickets", json={"matter": "QY-KB"},
                             headers=kiosk), 404, "unknown_hall")
    assert_error(client.post(f"{D}/tickets", json={"matter": "NOPE"}, headers=kiosk), 404,
                 "unknown_matter")
    assert_error(client.get(f"{D}/windows/99"), 404, "unknown_window")
    assert_error(client.get(f"{D}/windows/0"), 404, "unknown_window")
    assert_error(client.get(f"{D}/windows/{10**30}"), 404, "unknown_window")
    assert_error(client.post(f"{D}/windows/99/login", headers=s01), 404, "unknown_window")
    assert_error(client.post(f"{D}/windows/99/call-next", headers=s01), 404, "unknown_window")
    assert_error(client.get(f"{D}/tickets/not-a-ticket"), 404, "unknown_ticket")
    assert_error(client.post(f"{D}/tickets/not-a-ticket/cancel"), 404, "unknown_ticket")
    assert_error(client.post(f"{D}/tickets/not-a-ticket/rejoin"), 404, "unknown_ticket")
    # a real ticket id under another hall's path is unknown there
    assert_error(client.get(f"/api/halls/town/tickets/{hall['second']['id']}"), 404,
                 "unknown_ticket")
    assert_error(client.post(f"{D}/windows/1/call", json={"number": "A999", "reason": "r"},
                             headers=s01), 404,
                 "unknown_ticket")
    assert_error(client.post(f"{D}/windows/1/transfer", json={"queue": "Z"}, headers=s01), 404,
                 "unknown_queue")
    assert_error(client.post(f"{D}/windows/1/transfer", json={"window": 42}, headers=s01), 404,
                 "unknown_window")
    assert_error(client.get("/api/no/such/route"), 404, "not_found")
    assert_error(client.delete(f"{D}/tickets/{hall['second']['id']}"), 405,
                 "method_not_allowed")


# ---- 413 oversize ---------------------------------------------------------------------------


def test_oversize_body_is_413(client: TestClient, hall: dict[str, Any], unchanged: None) -> None:
    limit = services(client.app).settings.max_body_bytes
    big = b'{"matter": "' + b"x" * limit + b'"}'
    response = client.post(f"{D}/tickets", content=big,
                           headers={**hall["kiosk"], "content-type": "application/json"})
    assert_error(response, 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b'{"matter": "'
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(f"{D}/tickets", content=chunks(),
                           headers={**hall["kiosk"], "content-type": "application/json"})
    assert_error(response, 413, "body_too_large")


# ---- 409 illegal transitions ------------------------------------------------------------------


def test_illegal_transitions_are_409(client: TestClient, accounts: Accounts,
                                     hall: dict[str, Any], redis_url: str) -> None:
    s01, first, second = hall["s01"], hall["first"], hall["second"]
    s02 = accounts.clerk("S02")  # logs in (a session) before the snapshot
    client.cookies.clear()
    before = hall_state(redis_url)
    cases = [
        (client.post(f"{D}/windows/1/finish", headers=s01), "illegal_transition"),  # called
        (client.post(f"{D}/windows/1/call-next", headers=s01), "window_busy"),
        (client.post(f"{D}/windows/1/pause", headers=s01), "window_busy"),
        (client.post(f"{D}/windows/1/logout", headers=s01), "window_busy"),
        (client.post(f"{D}/windows/1/resume", headers=s01), "illegal_transition"),
        (client.post(f"{D}/tickets/{first['id']}/cancel"), "illegal_transition"),
        (client.post(f"{D}/tickets/{second['id']}/rejoin"), "illegal_transition"),
        (client.post(f"{D}/windows/1/login", headers=s02), "window_taken"),
        (client.post(f"{D}/windows/2/call-next", headers=s02), "not_your_window"),
    ]
    for response, code in cases:
        if code == "not_your_window":
            assert_error(response, 403, code)
        else:
            assert_error(response, 409, code)
    assert hall_state(redis_url) == before

    # window 2 with S02, nothing called yet
    assert client.post(f"{D}/windows/2/login", headers=s02).status_code == 200
    before = hall_state(redis_url)
    for action in ("recall", "start", "finish", "no-show"):
        assert_error(client.post(f"{D}/windows/2/{action}", headers=s02), 409,
                     "no_current_ticket")
    assert_error(client.post(f"{D}/windows/2/transfer", json={"queue": "D"}, headers=s02), 409,
                 "no_current_ticket")
    assert_error(client.post(f"{D}/windows/2/call", json={"number": first["number"], "reason": "r"},
                             headers=s02), 409, "illegal_transition")  # already called
    assert hall_state(redis_url) == before


def test_rejoin_too_late_is_409(client: TestClient, hall: dict[str, Any], clock: Any,
                                redis_url: str) -> None:
    s01, first = hall["s01"], hall["first"]
    assert client.post(f"{D}/windows/1/no-show", headers=s01).status_code == 200
    clock.advance(31 * 60)
    before = hall_state(redis_url)
    assert_error(client.post(f"{D}/tickets/{first['id']}/rejoin"), 409, "rejoin_expired")
    assert hall_state(redis_url) == before


# ---- 401 / 403 -------------------------------------------------------------------------------


def test_no_token_is_401(client: TestClient, hall: dict[str, Any], unchanged: None) -> None:
    assert_error(client.post(f"{D}/tickets", json={"matter": "QY-KB"}), 401, "unauthorized")
    assert_error(client.post(f"{D}/windows/1/call-next"), 401, "unauthorized")
    assert_error(client.post(f"{D}/windows/1/finish"), 401, "unauthorized")
    assert_error(client.post(f"{D}/windows/3/login"), 401, "unauthorized")
    bogus = {"Authorization": "Bearer not-a-real-token"}
    assert_error(client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=bogus), 401,
                 "unauthorized")
    assert_error(client.post(f"{D}/windows/1/pause", headers=bogus), 401, "unauthorized")


def test_wrong_role_is_403(client: TestClient, accounts: Accounts, hall: dict[str, Any],
                           redis_url: str) -> None:
    display = accounts.device(Role.DISPLAY)
    pad = accounts.device(Role.PAD, window=1)
    kiosk = hall["kiosk"]
    manager = accounts.user("mgr", Role.MANAGER)
    town_clerk = accounts.clerk("T01", hall="town")
    town_kiosk = accounts.device(Role.KIOSK, hall="town")
    s08 = accounts.clerk("S08")  # rostered only at the tax window
    s03 = accounts.clerk("S03")
    client.cookies.clear()
    before = hall_state(redis_url)
    cases = [
        client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=display),
        client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=pad),
        client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=town_kiosk),
        client.post(f"{D}/windows/1/call-next", headers=kiosk),
        client.post(f"{D}/windows/1/finish", headers=display),
        client.post(f"{D}/windows/1/call-next", headers=manager),  # only the clerk calls
        client.post(f"{D}/windows/1/pause", headers=kiosk),
        client.post(f"{D}/windows/3/login", headers=manager),
        client.post(f"{D}/windows/3/login", headers=town_clerk),   # clerk of another hall
        client.post(f"{D}/windows/1/call-next", headers=town_clerk),
        client.post(f"{D}/windows/1/start", headers=s03),          # clerk at another window
        client.post(f"{D}/windows/1/transfer", json={"queue": "D"}, headers=s03),
        client.post(f"{D}/windows/1/pause", headers=s03),
        client.post(f"{D}/windows/1/logout", headers=s03),
    ]
    for response in cases:
        assert_error(response, 403, response.json()["error"]["code"])
    codes = {r.json()["error"]["code"] for r in cases}
    assert codes == {"forbidden", "not_your_window"}
    assert_error(client.post(f"{D}/windows/1/login", headers=s08), 403, "not_rostered")
    assert hall_state(redis_url) == before


def test_a_manager_may_pause_and_close_any_window_of_their_hall(
    client: TestClient, accounts: Accounts, hall: dict[str, Any]
) -> None:
    """The roles that ARE allowed still work (the 403s above are not blanket refusals)."""
    manager = accounts.user("mgr", Role.MANAGER)
    town_manager = accounts.user("town-mgr", Role.MANAGER, hall="town")
    client.cookies.clear()
    assert_error(client.post(f"{D}/windows/1/close", headers=town_manager), 403, "forbidden")
    closing = client.post(f"{D}/windows/1/close", headers=manager)
    assert closing.status_code == 200 and closing.json()["status"] == "closing"


# ---- no 500s and an honest OpenAPI document -------------------------------------------------


def _api_routes(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            out |= _api_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith("/api/"):
            for method in route.methods or ():
                if method != "HEAD":
                    out.add((prefix + route.path, method.lower()))
    return out


def test_openapi_lists_every_api_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops
                  if path.startswith("/api/")}
    served = _api_routes(list(client.app.routes))  # type: ignore[attr-defined]
    assert served, "the app serves no /api routes?"
    assert served - documented == set(), "served but not in /openapi.json"
    assert documented - served == set(), "documented but not served"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["description"].startswith("Who may call"), (path, method)
            assert "409" in op["responses"] and "422" in op["responses"]
