"""An issue's audit entry is made by ``issue.lua`` in the same script that numbers the
ticket: the stored entry is ``entry_for``'s entry of the issued ticket, byte for byte
(number and time filled in by the script), one per ticket (a resent issue adds none), and
the chain verifies; with the trail on or off the estimate still reads every window, and
off, nothing is written."""

from __future__ import annotations

import json

import pytest

from hall import audit_store
from hall.audit_store import Acting, AuditTrail
from hall.audit_trail import parse
from hall.events import EventType
from ticketing import store as store_module
from ticketing.audit_entry import entry_for
from ticketing.model import Channel

pytestmark = pytest.mark.asyncio(loop_scope="session")


def trail_of(store, halls, clock) -> AuditTrail:
    return AuditTrail(store.redis, {h: c.tz for h, c in halls.items()}, clock)


async def test_the_issue_entry_is_the_entry_of_the_issued_event(store, halls, clock, aredis):
    trail = trail_of(store, halls, clock)
    store.audit = trail
    token = audit_store._current.set(Acting(source="10.0.0.7", method="POST", path="/x",
                                            hall="district", named_actor="kiosk-7",
                                            named_role="kiosk"))
    try:
        issued = [(await store.issue("district", "QY-KB", Channel.KIOSK))[0]]
        clock.advance(1.25)
        issued.append((await store.issue("district", "QY-KB", Channel.KIOSK,
                                         priority_group="elderly", appointment=True))[0])
        expected = [entry_for(EventType.TICKET_ISSUED, {"ticket": t.to_dict()}, t.issued_at)
                    for t in issued]
    finally:
        audit_store._current.reset(token)
    day = issued[0].day
    lines = await trail.read_day("district", day)
    assert [line.split(" ", 3)[3] for line in lines] == [e.body() for e in expected]
    stored = [parse("district", day, line) for line in lines]
    assert [s.entry.target for s in stored] == [f"ticket {t.number}" for t in issued]
    assert stored[1].entry.detail == {"queue": "A", "matter": "QY-KB", "channel": "kiosk",
                                      "priority_group": "elderly", "appointment": True}
    assert await trail.verify("district") == (2, None)


async def test_a_resent_issue_adds_no_entry(store, halls, clock, monkeypatch):
    trail = trail_of(store, halls, clock)
    store.audit = trail
    monkeypatch.setattr(store_module.secrets, "token_urlsafe", lambda n: "fixed-ticket-id")
    first, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
    again, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert again.number == first.number
    lines = await trail.read_day("district", first.day)
    assert len(lines) == 1 and json.loads(lines[0].split(" ", 3)[3])["actor"] == "system"
    assert await trail.verify("district") == (1, None)


async def test_the_estimate_reads_the_windows_with_the_trail_on_or_off(store, halls, clock,
                                                                      aredis):
    await store.login_window("district", 1, "S01")  # window 1 serves queue A
    trail = trail_of(store, halls, clock)
    _, position = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert position.estimated_wait_seconds == 0.0  # an idle open window calls it at once
    store.audit = trail
    _, position = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert position.ahead == 1 and position.estimated_wait_seconds
    assert len(await trail.read_day("district", (await trail.days("district"))[0])) == 1
    trail.enabled = False
    _, position = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert position.ahead == 2 and position.estimated_wait_seconds
    assert await aredis.llen(audit_store.day_key("district", (await trail.days("district"))[0])) \
        == 1
