"""After a full day's flow (issue, priority, call, transfer with a note, finish, a bad
rating and its case, no-show and re-join, a tide window opened by hand and released, a
notice), every surface reachable without staff credentials carries only allowlisted
fields, and none of the day's secrets: ticket ids (but the citizen's own), staff ids,
user names, device tokens, priority groups, rating levels, notes, comments.

Surfaces: the anonymous REST routes, ``/metrics``, the hall socket (snapshot and every
event replayed from the start of the stream), a pad's socket, a citizen's socket, and
the pages with their embedded data.
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis
from starlette.testclient import TestClient

from displays.views import window_of
from hall.auth import Role
from hall.events import Event, EventType
from tests.conftest import Accounts
from ticketing import public

D = "/api/halls/district"

# every key a public JSON answer or message may hold (the projections' fields plus the
# envelopes and the hall's public configuration)
ALLOWED_KEYS = {
    *public.PUBLIC_TICKET_FIELDS, *public.CITIZEN_TICKET_FIELDS, *public.CALL_FIELDS,
    *public.TIDE_FIELDS, *public.DECISION_FIELDS, *public.NOTICE_FIELDS,
    *public.ANNOUNCE_FIELDS,
    # public_window
    "number", "status", "busy", "current_number", "current_status", "staffed", "clerk_name",
    "clerk_staff_number", "served", "queues",
    # envelopes: hub messages, snapshots, ticket views
    "id", "type", "at", "data", "waiting", "own", "hall", "last_event_id", "windows",
    "recent_calls", "notices", "ticket", "window", "reason", "decision", "notice", "action",
    "ahead", "estimated_wait_minutes", "wait_reason",
}
QUEUE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
# the hall's public configuration, calendar and hub status are configuration, not records
CONFIG_ROUTES = ("/api/halls", D, f"{D}/calendar", "/api/hub", "/healthz", "/readyz")


def day(client: TestClient, accounts: Accounts) -> dict[str, Any]:
    kiosk = accounts.device(Role.KIOSK)
    pad = accounts.device(Role.PAD, window=1)
    s01 = accounts.clerk("S01")
    manager = accounts.user("boss", Role.MANAGER)
    client.cookies.clear()
    issue = f"{D}/tickets"
    tickets = [client.post(issue, json={"matter": "QY-KB"}, headers=kiosk).json()
               for _ in range(3)]
    tickets.append(client.post(issue, json={"matter": "QY-KB", "priority_group": "elderly"},
                               headers=kiosk).json())
    w1 = f"{D}/windows/1"

    def act(action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = client.post(f"{w1}/{action}", json=body or {}, headers=s01)
        assert r.status_code == 200, (action, r.text)
        client.cookies.clear()
        return r.json()

    act("login")
    first = act("call-next")["ticket"]           # the priority ticket
    act("start")
    act("transfer", {"queue": "B", "note": "带身份证复印件"})
    second = act("call-next")["ticket"]
    act("start")
    act("finish")
    rated = client.post(f"{D}/tickets/{second['id']}/rating",
                        json={"level": "very_dissatisfied", "comment": "态度差劲"})
    assert rated.status_code == 201, rated.text
    act("call-next")
    act("no-show")
    missed = next(t for t in tickets if t["id"] not in (first["id"], second["id"]))
    client.post(f"{D}/tickets/{missed['id']}/rejoin", json={})
    tide = f"{D}/tide"
    r = client.post(f"{tide}/override", json={"window": 12, "action": "open",
                                               "reason": "上午高峰"}, headers=manager)
    assert r.status_code == 200, r.text
    assert client.post(f"{tide}/release", json={"window": 12}, headers=manager).status_code \
        == 200
    r = client.post(f"{D}/notices", json={"text_zh": "午间照常办理", "text_en": "Open at noon"},
                    headers=manager)
    assert r.status_code == 201, r.text
    client.cookies.clear()
    tokens = [h["Authorization"][7:] for h in (kiosk, pad, s01, manager)]
    return {"tickets": tickets, "pad": pad, "tokens": tokens}


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def secrets_of(flow: dict[str, Any], own: str | None = None) -> list[str]:
    return [*(t["id"] for t in flow["tickets"] if t["id"] != own), *flow["tokens"],
            '"S01"', '"S02"', '"S03"', "district-S01", '"boss"', "elderly",
            "very_dissatisfied", "带身份证", "态度差劲", "notify_clerk", "priority_group",
            "上午高峰", '"by"', "history", "first_clerk"]


VOCABULARY = ("elderly", "priority_group", "very_dissatisfied", "history", "notify_clerk",
              '"by"', "first_clerk")


def check(where: str, text: str, flow: dict[str, Any], own: str | None = None,
          data: Any = None, config: bool = False) -> None:
    """``config``: the hall's configuration and pages, which name priority groups, rating
    levels … in their catalogue: there only the day's records must not appear."""
    secrets = [s for s in secrets_of(flow, own) if not (config and s in VOCABULARY)
               and not (own and s == "priority_group")]  # the citizen's own ticket has one
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{where} shows {leaked}: {text[:400]}"
    if data is not None:
        extra = keys_of(data) - ALLOWED_KEYS - set(QUEUE_LETTERS)  # waiting counts by queue
        assert not extra, f"{where} has fields outside the allowlist: {sorted(extra)}"


def replay(client: TestClient, path: str, last: str) -> list[dict[str, Any]]:
    """Every message a socket sends from the start of the stream up to the event ``last``
    (the socket replays the stream first: no waiting on time)."""
    got: list[dict[str, Any]] = []
    with client.websocket_connect(path) as ws:
        while True:
            message = ws.receive_json()
            got.append(message)
            if message.get("id") == last:
                return got
            assert len(got) < 500, "the replay never reached the last event"


def test_no_field_outside_the_allowlist_on_any_public_surface(
        client: TestClient, accounts: Accounts, redis_url: str) -> None:
    flow = day(client, accounts)
    cfg_windows = [w["number"] for w in client.get(D).json()["windows"]]
    for path in (f"{D}/state", f"{D}/notices", *(f"{D}/windows/{n}" for n in cfg_windows)):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        check(path, r.text, flow, data=r.json())
    for path in CONFIG_ROUTES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        check(path, r.text, flow, config=True)
    metrics = client.get("/metrics")
    check("/metrics", metrics.text, flow)
    assert not re.search(r'clerk|staff|user', metrics.text.split("# HELP")[0])
    # the citizen's own ticket: their id, nobody else's
    own = flow["tickets"][0]["id"]
    mine = client.get(f"{D}/tickets/{own}")
    check("citizen REST", mine.text, flow, own=own, data=mine.json())
    events = [Event.from_fields(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
              for i, f in redis.Redis.from_url(redis_url).xrevrange("hall:{district}:events")]
    last = events[0].id
    assert events[0].type is EventType.NOTICE  # public: every socket but the pad's gets it
    board = replay(client, "/ws/halls/district?last_id=0-0", last)
    kinds = {m["type"] for m in board}
    assert {"ticket.issued", "ticket.called", "ticket.transferred", "ticket.done",
            "ticket.no_show", "ticket.rejoined", "rating.given", "tide.override",
            "hall.notice"} <= kinds, kinds
    check("hall socket", json.dumps(board, ensure_ascii=False), flow, data=board)
    pad_token = flow["pad"]["Authorization"][7:]
    pad_last = next(e.id for e in events if window_of(e) == 1)  # what the pad hears last
    pad = replay(client, f"/ws/halls/district/pads/1?device={pad_token}&last_id=0-0",
                 pad_last)
    check("pad socket", json.dumps(pad, ensure_ascii=False).replace(pad_token, ""), flow,
          data=pad)
    citizen = replay(client, f"/ws/halls/district/tickets/{own}?last_id=0-0", last)
    check("citizen socket", json.dumps(citizen, ensure_ascii=False), flow, own=own,
          data=citizen)
    for path in ("/", "/h/district/board", "/h/district/kiosk", "/h/district/window/1",
                 "/h/district/pad/1", f"/h/district/t/{own}"):
        page = client.get(path)
        assert page.status_code == 200, path
        check(path, page.text, flow, own=own, config=True)
