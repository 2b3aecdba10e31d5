"""Route × role matrix, generated from ``/openapi.json`` and the app's websocket routes.

Every operation is called, well formed, by every kind of caller: anonymous, the citizen
of another ticket, each device kind (a pad of window 1 and one of window 2), the clerk at
window 1, the clerk at window 2, a clerk and a manager of another hall, a manager, an
auditor and an admin. A caller the route's declared roles (``x-roles``) do not allow
must get 401 or 403; an allowed one must not. The hall's state is restored between
operations, so one operation's effects (a log-out, a closed window) never decide another's.

A route whose declared roles are not in ``ALLOWED`` fails: a new route must say who may
call it, here and in its declaration.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
import redis
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hall.auth import Role
from tests.conftest import Accounts

DEVICES = {"kiosk", "pad", "pad_other", "display", "phone"}
HALL_STAFF = {"clerk", "clerk_other_window", "manager", "auditor", "admin"}
OTHER_HALL = {"clerk_other_hall", "manager_other_hall"}
CALLERS = ("anonymous", "citizen_other", *sorted(DEVICES), *sorted(HALL_STAFF),
           *sorted(OTHER_HALL))
EVERYONE = set(CALLERS)
STAFF_WITH_WINDOWS = {"clerk", "clerk_other_window", "manager", "admin"}

# declared roles (x-roles) -> the callers they allow (in the district hall, window 1)
ALLOWED: dict[str, set[str]] = {
    "anyone": EVERYONE,
    "any signed-in person": HALL_STAFF | OTHER_HALL,
    "admin": {"admin"},
    "auditor": {"auditor"},
    "manager, auditor": {"manager", "auditor"},
    "manager, admin": {"manager", "admin"},
    "manager (their halls), admin (all)": {"manager", "manager_other_hall", "admin"},
    "kiosk, phone gateway, clerk, manager, admin": {"kiosk", "phone"} | STAFF_WITH_WINDOWS,
    "kiosk, clerk, manager, admin": {"kiosk"} | STAFF_WITH_WINDOWS,
    "clerk, manager, admin": STAFF_WITH_WINDOWS,
    "clerk": {"clerk", "clerk_other_window"},
    "the clerk at the window": {"clerk"},
    "the clerk at the window; manager": {"clerk", "manager", "admin"},
    "the window's rating pad": {"pad"},
    "the window's rating pad; staff": {"pad"} | STAFF_WITH_WINDOWS,
    "manager, admin; a clerk (own cases)": STAFF_WITH_WINDOWS,
    "manager, admin; a clerk gets only their own figures": STAFF_WITH_WINDOWS,
    # the unguessable id in the path is the capability: whoever holds it may call
    "the citizen holding the ticket link": EVERYONE,
    "the citizen holding the ticket link; staff": EVERYONE,
    "the citizen holding the booking link": EVERYONE,
    "anyone (with a solved challenge); staff": EVERYONE,
    # the set-up token in the body is the capability (tests/e2e/test_accounts_api.py)
    "anyone holding a set-up link": EVERYONE,
}
# websocket routes -> declared roles, as above
WEBSOCKETS: dict[str, str] = {
    "/ws/halls/{hall}": "anyone",
    "/ws/halls/{hall}/tickets/{ticket}": "the citizen holding the ticket link",
    "/ws/halls/{hall}/pads/{window}": "the window's rating pad",
}


@pytest.fixture
def world(client: TestClient, accounts: Accounts) -> dict[str, Any]:
    kiosk = accounts.device(Role.KIOSK)
    headers: dict[str, dict[str, str]] = {
        "anonymous": {}, "citizen_other": {}, "kiosk": kiosk,
        "pad": accounts.device(Role.PAD, window=1),
        "pad_other": accounts.device(Role.PAD, window=2),
        "display": accounts.device(Role.DISPLAY), "phone": accounts.device(Role.PHONE),
        "clerk": accounts.clerk("S01"), "clerk_other_window": accounts.clerk("S02"),
        "clerk_other_hall": accounts.clerk("S01", hall="county"),
        "manager": accounts.user("boss", Role.MANAGER),
        "manager_other_hall": accounts.user("far", Role.MANAGER, hall="county"),
        "auditor": accounts.user("eye", Role.AUDITOR),
        "admin": accounts.user("root", Role.ADMIN),
    }
    client.cookies.clear()
    issue = "/api/halls/district/tickets"
    mine = client.post(issue, json={"matter": "QY-KB"}, headers=kiosk).json()
    other = client.post(issue, json={"matter": "QY-KB"}, headers=kiosk).json()
    for who, n in (("clerk", 1), ("clerk_other_window", 2)):
        r = client.post(f"/api/halls/district/windows/{n}/login", headers=headers[who])
        assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"headers": headers, "ticket": mine, "other": other}


def _value(name: str, schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    if kind == "number":
        return 1.0
    return {"number": "A001", "day": date.today().isoformat(), "level": "满意"}.get(name, "x")


# well-formed bodies where the required fields alone are not (one of two is needed)
BODIES = {"/api/halls/{hall}/windows/{window}/transfer": {"queue": "B"}}
# answers that are the operation's own result, not a refusal of the caller
NOT_REFUSALS = {"bad_credentials", "reason_required", "setup_link_invalid"}


def _body(path: str, op: dict[str, Any]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if not body:
        return None
    schema = body["content"]["application/json"]["schema"]
    return BODIES.get(path) or {n: _value(n, schema["properties"][n])
                                for n in schema.get("required", [])}


def _snapshot(r: redis.Redis) -> dict[bytes, bytes]:
    return {k: r.dump(k) for k in r.scan_iter("*") if not k.startswith(b"hall:{district}:audit")
            and not k.startswith(b"hall:{*}:audit")}


def _restore(r: redis.Redis, saved: dict[bytes, bytes]) -> None:
    for key in r.scan_iter("*"):
        if key not in saved and b":audit" not in key and not key.startswith(b"rq:"):
            r.delete(key)
    for key, value in saved.items():
        r.restore(key, 0, value, replace=True)


def test_every_route_answers_its_declared_roles_and_no_other(
        client: TestClient, world: dict[str, Any], redis_url: str) -> None:
    doc = client.get("/openapi.json").json()
    undeclared = sorted(f"{m.upper()} {p}: {op.get('x-roles')!r}"
                        for p, ops in doc["paths"].items() for m, op in ops.items()
                        if op.get("x-roles") not in ALLOWED)
    assert not undeclared, "routes whose roles the matrix does not know:\n" + "\n".join(
        undeclared)
    r = redis.Redis.from_url(redis_url)
    saved = _snapshot(r)
    wrong: list[str] = []
    for path, ops in sorted(doc["paths"].items()):
        for method, op in sorted(ops.items()):
            allowed = ALLOWED[op["x-roles"]]
            for who in CALLERS:
                ticket = world["other" if who == "citizen_other" else "ticket"]
                url = (path.replace("{hall}", "district").replace("{window}", "1")
                       .replace("{ticket}", ticket["id"]).replace("{booking}", "B" * 22)
                       .replace("{notice}", "n1").replace("{day}", date.today().isoformat())
                       .replace("{username}", "nobody").replace("{device}", "nothing"))
                body = _body(path, op)
                headers = dict(world["headers"][who])
                if body is not None:
                    headers["content-type"] = "application/json"
                response = client.request(
                    method.upper(), url, headers=headers,
                    content=json.dumps(body).encode() if body is not None else None)
                client.cookies.clear()
                refused = response.status_code in (401, 403) and response.json().get(
                    "error", {}).get("code") not in NOT_REFUSALS
                if (who in allowed) == refused:
                    wrong.append(f"{method.upper()} {path} as {who}: {response.status_code} "
                                 f"{response.text[:120]} (declared: {op['x-roles']})")
                if who == "citizen_other" and response.status_code < 300:
                    assert world["ticket"]["id"] not in response.text, (method, path)
                _restore(r, saved)
    assert not wrong, f"{len(wrong)} answers disagree with the declared roles:\n" + "\n".join(
        wrong)


def test_every_websocket_route_answers_its_declared_roles(
        client: TestClient, world: dict[str, Any]) -> None:
    routes = {r.path for r in client.app.routes  # type: ignore[attr-defined]
              if isinstance(r, WebSocketRoute)}
    assert routes == set(WEBSOCKETS), "declare the roles of every websocket route here"
    device = {who: h.get("Authorization", "")[7:] for who, h in world["headers"].items()}
    wrong = []
    for path, roles in WEBSOCKETS.items():
        for who in CALLERS:
            ticket = world["other" if who == "citizen_other" else "ticket"]
            url = (path.replace("{hall}", "district").replace("{window}", "1")
                   .replace("{ticket}", ticket["id"]))
            if device[who] and "pads" in path:
                url += f"?device={device[who]}"  # screens that cannot set headers
            try:
                with client.websocket_connect(url, headers=world["headers"][who]) as ws:
                    first = json.loads(ws.receive_text())
                    refused = False
                    if who == "citizen_other":
                        assert world["ticket"]["id"] not in json.dumps(first)
            except WebSocketDisconnect as closed:
                refused = closed.code == 4403
            if (who in ALLOWED[roles]) == refused:
                wrong.append(f"{path} as {who}: refused={refused} (declared: {roles})")
    assert not wrong, "\n".join(wrong)
