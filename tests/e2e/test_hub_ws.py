"""The hub's websockets in-process: snapshot, live events, replay, projections, refusals."""

from __future__ import annotations

import json

import pytest
from starlette.websockets import WebSocketDisconnect

from displays.hub_views import HubStatus
from hall.auth import Role


def _next_event(ws, *types):
    while True:
        msg = ws.receive_json()
        if msg.get("id") and (not types or msg["type"] in types):
            return msg


def _issue(client, kiosk, matter="QY-KB"):
    r = client.post("/api/halls/district/tickets", json={"matter": matter}, headers=kiosk)
    assert r.status_code == 201, r.text
    return r.json()


def test_board_gets_snapshot_then_public_events_without_secrets(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk("S01")
    client.post("/api/halls/district/windows/1/login", headers=clerk)
    with client.websocket_connect("/ws/halls/district") as ws:
        snap = ws.receive_json()
        assert snap["type"] == "hub.snapshot"
        assert snap["data"]["hall"] == "district"
        window1 = next(w for w in snap["data"]["windows"] if w["number"] == 1)
        assert window1["status"] == "open" and window1["staffed"] is True
        ticket = _issue(client, kiosk)
        issued = _next_event(ws)
        assert issued["type"] == "ticket.issued"
        assert issued["data"]["ticket"]["number"] == ticket["number"]
        client.post("/api/halls/district/windows/1/call-next", headers=clerk)
        called = _next_event(ws, "ticket.called")
        assert called["data"]["ticket"]["number"] == ticket["number"]
        assert called["data"]["window"]["current_number"] == ticket["number"]
        text = json.dumps([issued, called])
        assert ticket["id"] not in text  # the secret id never reaches a public screen
        assert "history" not in text and '"clerk"' not in text
        assert called["id"] > issued["id"]


def test_waiting_counts_follow_the_queue(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    with client.websocket_connect("/ws/halls/district") as ws:
        assert ws.receive_json()["data"]["waiting"]["A"] == 0
        _issue(client, kiosk)
        _issue(client, kiosk)
        counts = None
        while counts is None or counts["A"] < 2:
            counts = _next_event(ws, "ticket.issued").get("waiting")
        assert counts["A"] == 2
        clerk = accounts.clerk("S01")
        client.post("/api/halls/district/windows/1/login", headers=clerk)
        client.post("/api/halls/district/windows/1/call-next", headers=clerk)
        assert _next_event(ws, "ticket.called")["waiting"]["A"] == 1
    with client.websocket_connect("/ws/halls/district?last_id=0-0") as ws:
        replayed = [ws.receive_json() for _ in range(5)]  # 2 issued, login, called, counts
        assert replayed[-1] == {"type": "hub.waiting", "data": counts | {"A": 1}}


def test_replay_from_last_id_has_no_gap_and_no_duplicate(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    with client.websocket_connect("/ws/halls/district") as ws:
        ws.receive_json()
        first = _issue(client, kiosk)
        seen = _next_event(ws)
        assert seen["data"]["ticket"]["number"] == first["number"]
    missed = [_issue(client, kiosk)["number"] for _ in range(5)]
    with client.websocket_connect(f"/ws/halls/district?last_id={seen['id']}") as ws:
        got = [_next_event(ws)["data"]["ticket"]["number"] for _ in missed]
        assert got == missed
        later = _issue(client, kiosk)
        assert _next_event(ws)["data"]["ticket"]["number"] == later["number"]


def test_citizen_socket_sees_its_own_ticket_in_full(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk("S01")
    client.post("/api/halls/district/windows/1/login", headers=clerk)
    mine = _issue(client, kiosk)
    other = _issue(client, kiosk)
    with client.websocket_connect(f"/ws/halls/district/tickets/{other['id']}") as ws:
        snap = ws.receive_json()
        assert snap["data"]["ticket"]["number"] == other["number"]
        assert snap["data"]["ticket"]["ahead"] == 1
        client.post("/api/halls/district/windows/1/call-next", headers=clerk)
        event = _next_event(ws, "ticket.called")
        assert event["data"]["ticket"]["number"] == mine["number"]
        assert "own" not in event and mine["id"] not in json.dumps(event)
        client.post("/api/halls/district/windows/1/no-show", headers=clerk)
        client.post("/api/halls/district/windows/1/call-next", headers=clerk)
        own = _next_event(ws, "ticket.called")
        assert own["own"] is True and own["data"]["ticket"]["id"] == other["id"]
        assert own["data"]["ticket"]["status"] == "called"


def test_pad_socket_needs_its_window_token_and_gets_its_window_only(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    clerk1 = accounts.clerk("S01")
    clerk2 = accounts.clerk("S02")
    pad = accounts.device(Role.PAD, window=2)["Authorization"].split()[1]
    with client.websocket_connect("/ws/halls/district/pads/2") as ws:
        with pytest.raises(WebSocketDisconnect) as refused:
            ws.receive_json()
        assert refused.value.code == 4403
    client.post("/api/halls/district/windows/1/login", headers=clerk1)
    with client.websocket_connect(f"/ws/halls/district/pads/2?device={pad}") as ws:
        assert ws.receive_json()["data"]["window"]["number"] == 2
        _issue(client, kiosk)
        client.post("/api/halls/district/windows/1/call-next", headers=clerk1)
        client.post("/api/halls/district/windows/2/login", headers=clerk2)
        event = _next_event(ws)
        assert event["type"] == "window.changed" and event["data"]["window"]["number"] == 2


@pytest.mark.parametrize("path, code", [
    ("/ws/halls/nowhere", 4404),
    ("/ws/halls/district/tickets/not-a-ticket", 4404),
    ("/ws/halls/district/pads/99", 4404),
    ("/ws/halls/district?last_id=garbage", 4400),
])
def test_bad_sockets_are_refused_with_a_clear_code(client, path, code):
    with client.websocket_connect(path) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == code


@pytest.mark.parametrize("frame, code", [
    ("not json", 4400),
    ('{"type": "subscribe-everything"}', 4400),
    ("x" * 100_000, 1009),
    (b"\x00\x01binary", 1003),
])
def test_garbage_frames_close_the_socket(client, frame, code):
    with client.websocket_connect("/ws/halls/district") as ws:
        ws.receive_json()
        ws.send_text('{"type": "ping"}')
        assert ws.receive_json() == {"type": "pong"}
        if isinstance(frame, bytes):
            ws.send_bytes(frame)
        else:
            ws.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == code


def test_a_stream_reader_starts_only_for_a_watched_hall(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    _issue(client, kiosk)  # events in district's stream, but nobody watches it yet
    assert client.get("/api/hub").json()["halls"] == {}
    with client.websocket_connect("/ws/halls/district") as ws:
        assert ws.receive_json()["type"] == "hub.snapshot"
        status = client.get("/api/hub").json()
        HubStatus.model_validate(status)  # its declared body (strict), a hall watched
        halls = status["halls"]
        assert list(halls) == ["district"]  # no reader for town, which nobody watches
        assert halls["district"]["clients"] == 1
