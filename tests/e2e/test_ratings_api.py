"""好差评 over HTTP: once per finished ticket, at the pad or by the ticket link; bad → a case."""

from __future__ import annotations

import json
import threading

import redis

from hall.auth import Role

HALL = "/api/halls/district"


def serve_one(client, accounts, clerk_id="S01", window=1, matter="QY-KB"):
    """Issue a ticket and take it through call → serve → done at a window; return its id."""
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk(clerk_id)
    ticket = client.post(f"{HALL}/tickets", json={"matter": matter}, headers=kiosk).json()
    assert client.post(f"{HALL}/windows/{window}/login", headers=clerk).status_code == 200
    for action in ("call-next", "start", "finish"):
        r = client.post(f"{HALL}/windows/{window}/{action}", headers=clerk)
        assert r.status_code == 200, r.text
    return ticket["id"], ticket["number"], clerk


def test_citizen_rates_once_and_event_is_appended(client, accounts, redis_url):
    ticket_id, number, _ = serve_one(client, accounts)
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating",
                    json={"level": "very_satisfied", "comment": "很快"})
    assert r.status_code == 201, r.text
    assert r.json()["rating"]["level"] == "very_satisfied"
    assert r.json()["case_opened"] is False
    again = client.post(f"{HALL}/tickets/{ticket_id}/rating", json={"level": "dissatisfied"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_rated"
    events = redis.Redis.from_url(redis_url).xrange("hall:{district}:events")
    given = [json.loads(f[b"data"]) for _, f in events if f[b"type"] == b"rating.given"]
    assert len(given) == 1
    rating = given[0]["rating"]
    assert (rating["ticket"], rating["number"], rating["matter"], rating["window"],
            rating["clerk"]) == (ticket_id, number, "QY-KB", 1, "S01")
    shown = client.get(f"{HALL}/tickets/{ticket_id}/rating").json()
    assert shown["rating"]["level"] == "very_satisfied" and shown["can_rate"] is False


def test_only_a_done_ticket_is_rated(client, accounts):
    kiosk = accounts.device(Role.KIOSK)
    ticket = client.post(f"{HALL}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
    r = client.post(f"{HALL}/tickets/{ticket['id']}/rating", json={"level": "satisfied"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_done"
    assert client.get(f"{HALL}/tickets/{ticket['id']}/rating").json()["can_rate"] is False


def test_bad_input_is_refused_and_changes_nothing(client, accounts, redis_url):
    ticket_id, _, _ = serve_one(client, accounts)
    for body, status in (({"level": "great"}, 422), ({}, 422), ({"level": 3}, 422),
                         ({"level": "satisfied", "x": 1}, 422),
                         ({"level": "satisfied", "comment": "长" * 501}, 422)):
        r = client.post(f"{HALL}/tickets/{ticket_id}/rating", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == "invalid_field"
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating", content=b"{nope",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert client.post(f"{HALL}/tickets/nosuch/rating",
                       json={"level": "satisfied"}).status_code == 404
    assert client.post("/api/halls/nohall/tickets/x/rating",
                       json={"level": "satisfied"}).status_code == 404
    assert not redis.Redis.from_url(redis_url).exists(f"hall:{{district}}:rating:{ticket_id}")


def test_rating_period_runs_out(client, accounts, clock):
    ticket_id, _, _ = serve_one(client, accounts)
    clock.advance(24 * 3600 + 1)  # district keeps the default 1440-minute period
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating", json={"level": "satisfied"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "rating_expired"
    pad = accounts.device(Role.PAD, window=1)
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json() == {"ticket": None}


def test_pad_sees_pending_ticket_and_rates_it_once(client, accounts):
    pad = accounts.device(Role.PAD, window=1)
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json() == {"ticket": None}
    ticket_id, number, clerk = serve_one(client, accounts)
    pending = client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json()["ticket"]
    assert pending["number"] == number and pending["matter"] == "QY-KB"
    assert pending["clerk_name"] == "张敏" and pending["clerk_staff_number"] == "QZ0101"
    # staff may look too; other pads, kiosks and strangers may not
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=clerk).status_code == 200
    other_pad = accounts.device(Role.PAD, window=2)
    r = client.get(f"{HALL}/windows/1/pending-rating", headers=other_pad)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_window"
    assert client.get(f"{HALL}/windows/1/pending-rating",
                      headers=accounts.device(Role.KIOSK)).status_code == 403
    client.cookies.clear()  # the logins above left a session cookie in the test client
    assert client.get(f"{HALL}/windows/1/pending-rating").status_code == 401
    assert client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"},
                       headers=other_pad).status_code == 403
    assert client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"},
                       headers=clerk).status_code == 403
    assert client.post(f"{HALL}/windows/1/rating",
                       json={"level": "satisfied"}).status_code == 401
    r = client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"}, headers=pad)
    assert r.status_code == 201, r.text
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json() == {"ticket": None}
    r = client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"}, headers=pad)
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_rate"
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating", json={"level": "satisfied"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_rated"
    assert client.get(f"{HALL}/windows/99/pending-rating", headers=clerk).status_code == 404


def test_pad_offers_a_ticket_only_briefly_and_until_the_next_call(client, accounts, clock):
    pad = accounts.device(Role.PAD, window=1)
    kiosk = accounts.device(Role.KIOSK)
    ticket_id, number, clerk = serve_one(client, accounts)
    clock.advance(89)
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json()["ticket"]
    clock.advance(2)  # the district's pad_rating_seconds (90) are over
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json() == {"ticket": None}
    r = client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"}, headers=pad)
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_rate"
    # the citizen's own link still may
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating", json={"level": "satisfied"})
    assert r.status_code == 201

    second_id, _, clerk = serve_one(client, accounts)
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json()["ticket"]
    client.post(f"{HALL}/tickets", json={"matter": "QY-KB"}, headers=kiosk)
    assert client.post(f"{HALL}/windows/1/call-next", headers=clerk).status_code == 200
    # the next citizen is at the window: the pad no longer offers the previous service
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=pad).json() == {"ticket": None}
    r = client.post(f"{HALL}/windows/1/rating", json={"level": "very_dissatisfied"}, headers=pad)
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_rate"
    assert second_id != ticket_id and number


def test_pad_from_another_hall_is_refused(client, accounts):
    serve_one(client, accounts)
    town_pad = accounts.device(Role.PAD, hall="town", window=1)
    assert client.get(f"{HALL}/windows/1/pending-rating", headers=town_pad).status_code == 403


def test_concurrent_ratings_give_exactly_one(client, accounts, redis_url):
    ticket_id, _, _ = serve_one(client, accounts)
    pad = accounts.device(Role.PAD, window=1)
    results: list[int] = []

    def citizen() -> None:
        results.append(client.post(f"{HALL}/tickets/{ticket_id}/rating",
                                   json={"level": "very_dissatisfied"}).status_code)

    def at_pad() -> None:
        results.append(client.post(f"{HALL}/windows/1/rating", json={"level": "satisfied"},
                                   headers=pad).status_code)

    threads = [threading.Thread(target=f) for f in (citizen, at_pad, citizen, at_pad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(201) == 1, results
    assert all(s == 409 for s in results if s != 201)
    events = redis.Redis.from_url(redis_url).xrange("hall:{district}:events")
    assert sum(1 for _, f in events if f[b"type"] == b"rating.given") == 1


def test_bad_rating_opens_a_case(client, accounts):
    ticket_id, number, _ = serve_one(client, accounts)
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating",
                    json={"level": "dissatisfied", "comment": "材料说明不清"})
    assert r.status_code == 201 and r.json()["case_opened"] is True
    manager = accounts.user("mgr", Role.MANAGER)
    cases = client.get(f"{HALL}/cases", headers=manager).json()
    assert cases["counts"] == {"open": 1, "overdue": 0, "closed": 0}
    case = cases["cases"][0]
    assert case["ticket"] == ticket_id and case["rating"]["number"] == number
    assert case["rating"]["comment"] == "材料说明不清" and case["clerk_name"] == "张敏"
