"""What public screens, citizens and pads may see of each event (pure projections)."""

from __future__ import annotations

import json

import pytest

from displays import views
from hall.config import bundled_hall_files, load_halls
from hall.events import Event, EventType

SECRET = "s3cr3t-ticket-id-Z9"


@pytest.fixture(scope="module")
def cfg():
    return load_halls(bundled_hall_files())["district"]


def _ticket(**changes):
    ticket = {"id": SECRET, "hall": "district", "number": "A007", "queue": "A", "matter": "QY-KB",
              "status": "called", "window": 3, "clerk": "S03", "first_clerk": "S03", "calls": 1,
              "history": [{"at": 1.0, "action": "called", "window": 3, "clerk": "S03",
                           "note": "带身份证"}],
              "target_window": None, "priority_group": None}
    ticket.update(changes)
    return ticket


def _window(**changes):
    window = {"number": 3, "status": "open", "clerk": "S03", "current": SECRET, "served": 4}
    window.update(changes)
    return window


def test_public_call_has_number_window_and_clerk_name_but_no_secrets(cfg):
    event = Event(EventType.TICKET_CALLED, 5.0, {"ticket": _ticket(), "window": _window()}, "1-0")
    text = views.public_view(cfg)(event, {"A": 2})
    message = json.loads(text)
    assert message["data"]["ticket"]["number"] == "A007"
    assert message["data"]["window"]["current_number"] == "A007"
    assert message["data"]["window"]["clerk_name"] == cfg.staff_member("S03").name
    assert message["data"]["window"]["clerk_staff_number"] == "QZ0103"
    assert message["waiting"] == {"A": 2}
    for secret in (SECRET, "带身份证", '"S03"', "history", "first_clerk"):
        assert secret not in text


def test_window_change_never_shows_the_current_ticket_id(cfg):
    event = Event(EventType.WINDOW_CHANGED, 5.0, {"window": _window(status="paused"),
                                                   "reason": "pause"}, "2-0")
    data = json.loads(views.public_view(cfg)(event))["data"]
    assert data["window"]["status"] == "paused" and data["window"]["busy"] is True
    assert SECRET not in json.dumps(data)


def test_other_packages_events_pass_only_their_allowlisted_fields(cfg):
    event = Event(EventType.ANNOUNCE, 5.0, {"text": "请A007号到3号窗口办理", "ticket_id": SECRET,
                                            "clerk": "S03", "audio": "/audio/x.wav"}, "3-0")
    data = json.loads(views.public_view(cfg)(event))["data"]
    assert SECRET not in json.dumps(data) and "S03" not in json.dumps(data)
    assert data["text"] == "请A007号到3号窗口办理" and data["audio"] == "/audio/x.wav"
    unknown = Event(EventType.RATING_CASE, 5.0, {"case": {"ticket_id": SECRET}}, "3-1")
    assert views.public_view(cfg)(unknown) is None


def test_rating_is_public_only_as_its_window(cfg):
    event = Event(EventType.RATING_GIVEN, 5.0, {"ticket_id": SECRET, "number": "A007", "window": 3,
                                                "level": "very_dissatisfied",
                                                "rating": {"comment": "很好"}}, "4-0")
    data = json.loads(views.public_view(cfg)(event))["data"]
    assert data == {"window": 3}
    own = json.loads(views.citizen_event(cfg, event, SECRET))
    assert own["data"]["level"] == "very_dissatisfied"  # the citizen's own rating


def test_tide_events_never_name_staff(cfg):
    applied = Event(EventType.TIDE_DECISION, 5.0, {
        "status": "applied", "by": "tide-controller", "notify_clerk": "S12",
        "decision": {"action": "open", "window": 12, "queues": ["A"], "clerk": "S12",
                     "reason_zh": "等候 31 人", "reason_en": "31 waiting"},
        "window": _window(number=12, clerk="S12", current=None), "reason": "tide.open",
        "message_zh": "12号潮汐窗口已开放", "message_en": "Tide window 12 is open"}, "5-0")
    text = views.public_view(cfg)(applied)
    data = json.loads(text)["data"]
    assert data["message_zh"] == "12号潮汐窗口已开放" and data["decision"]["action"] == "open"
    assert data["window"]["number"] == 12 and data["window"]["staffed"] is True
    for secret in ('"S12"', "tide-controller", "notify_clerk", "等候", '"by"'):
        assert secret not in text
    override = Event(EventType.TIDE_OVERRIDE, 5.0, {"kind": "released", "window": 12,
                                                    "by": "boss"}, "5-1")
    data = json.loads(views.public_view(cfg)(override))["data"]
    assert data == {"kind": "released", "window": 12}
    proposed = Event(EventType.TIDE_DECISION, 5.0, {"status": "proposed", "id": "12:open",
                                                    "decision": {"action": "open", "window": 12,
                                                                 "clerk": "S12"}}, "5-2")
    assert json.loads(views.public_view(cfg)(proposed))["data"] == {
        "status": "proposed", "decision": {"action": "open", "window": 12, "queues": None}}


def test_citizen_sees_only_their_own_ticket_in_full(cfg):
    event = Event(EventType.TICKET_CALLED, 5.0, {"ticket": _ticket(), "window": _window()}, "1-0")
    mine = json.loads(views.citizen_event(cfg, event, SECRET))
    assert mine["own"] is True and mine["data"]["ticket"]["id"] == SECRET
    assert "history" not in mine["data"]["ticket"] and "clerk" not in mine["data"]["ticket"]
    assert views.citizen_event(cfg, event, "someone-else") is None


def test_window_of_an_event(cfg):
    done = Event(EventType.TICKET_DONE, 5.0, {"ticket": _ticket(status="done"),
                                              "window": _window(current=None)}, "1-0")
    moved = Event(EventType.TICKET_TRANSFERRED, 5.0,
                  {"ticket": _ticket(status="waiting", window=None), "window": _window()}, "2-0")
    rated = Event(EventType.RATING_GIVEN, 5.0, {"window": 7, "level": "satisfied"}, "3-0")
    issued = Event(EventType.TICKET_ISSUED, 5.0, {"ticket": _ticket(status="waiting",
                                                                     window=None)}, "4-0")
    assert [views.window_of(e) for e in (done, moved, rated, issued)] == [3, 3, 7, None]
