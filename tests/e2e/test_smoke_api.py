from __future__ import annotations

from hall.auth import Role


def test_kiosk_ticket_called_and_finished(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk("S01")
    issued = client.post("/api/halls/district/tickets", json={"matter": "QY-KB"}, headers=kiosk)
    assert issued.status_code == 201, issued.text
    assert issued.json()["number"] == "A001"
    assert client.post("/api/halls/district/windows/1/login", headers=clerk).status_code == 200
    called = client.post("/api/halls/district/windows/1/call-next", headers=clerk).json()
    assert called["ticket"]["number"] == "A001"
    assert called["ticket"]["status"] == "called"


def test_me_shows_the_window_a_clerk_is_logged_in_at(client, accounts):
    clerk = accounts.clerk("S01")
    me = client.get("/api/me", headers=clerk).json()["user"]
    assert (me["role"], me["window"], me["window_hall"]) == ("clerk", None, None)
    assert client.post("/api/halls/district/windows/3/login", headers=clerk).status_code == 200
    me = client.get("/api/me", headers=clerk).json()["user"]
    assert (me["window"], me["window_hall"]) == (3, "district")
    assert client.post("/api/halls/district/windows/3/logout", headers=clerk).status_code == 200
    assert client.get("/api/me", headers=clerk).json()["user"]["window"] is None
