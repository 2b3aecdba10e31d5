"""Issuing is idempotent per ticket id: a resent issue script (the client library retries
after a broken connection, e.g. during a Redis failover) does not take a second number."""

from __future__ import annotations

import json

import pytest

from ticketing import store as store_module
from ticketing.model import Channel

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_resent_issue_returns_the_same_ticket(store, aredis, monkeypatch):
    monkeypatch.setattr(store_module.secrets, "token_urlsafe", lambda n: "fixed-ticket-id")
    first, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
    again, position = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert (first.number, again.number) == ("A001", "A001")
    assert again.id == first.id and position.ahead == 0
    events = await aredis.xrange("hall:{district}:events")
    issued = [json.loads(f[b"data"])["ticket"]["number"] for _, f in events
              if f[b"type"] == b"ticket.issued"]
    assert issued == ["A001"], "one ticket.issued event"
    monkeypatch.undo()
    following, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
    assert following.number == "A002", "the counter was not advanced by the retry"
