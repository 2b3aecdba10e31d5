"""Everything reachable without staff credentials is a ``ticketing.public`` projection:
no ticket secret id, no clerk or staff id, no priority group; the wait is a reason, not
0 minutes, when no window serves the queue."""

from __future__ import annotations

import json

from hall.auth import Role

D = "/api/halls/district"


def test_no_window_open_is_a_reason_never_minutes(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    issued = client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
    assert issued["estimated_wait_minutes"] is None
    assert issued["wait_reason"] == "no_window_open"
    clerk = accounts.clerk("S01")
    assert client.post(f"{D}/windows/1/login", headers=clerk).status_code == 200
    again = client.get(f"{D}/tickets/{issued['id']}").json()
    assert again["wait_reason"] is None and again["ahead"] == 0
    assert again["estimated_wait_minutes"] == 0


def test_anonymous_state_and_window_show_no_secret(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk("S01")
    ticket = client.post(f"{D}/tickets", json={"matter": "QY-KB", "priority_group": "elderly"},
                         headers=kiosk).json()
    client.post(f"{D}/windows/1/login", headers=clerk)
    client.post(f"{D}/windows/1/call-next", headers=clerk)
    client.cookies.clear()  # anonymous: no session cookie from the logins above
    state = client.get(f"{D}/state")
    window = client.get(f"{D}/windows/1")
    for answer in (state, window):
        assert answer.status_code == 200
        text = answer.text
        for secret in (ticket["id"], '"S01"', "priority_group", "elderly", "history"):
            assert secret not in text, (answer.url, secret)
    shown = next(w for w in state.json()["windows"] if w["number"] == 1)
    assert shown["current_number"] == ticket["number"] and shown["staffed"] is True
    assert window.json()["ticket"]["number"] == ticket["number"]
    assert window.json()["current_number"] == ticket["number"]
    # the clerk at the window gets the full record (notes and history for 首问负责)
    mine = client.get(f"{D}/windows/1", headers=clerk).json()
    assert mine["clerk"] == "S01" and mine["ticket"]["history"]
    assert json.dumps(mine["ticket"]).count(ticket["id"]) == 1
