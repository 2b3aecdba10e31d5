"""What each kind of socket may see of an event: public screens, one citizen's ticket, one pad.

Events carry full tickets (secret id, clerk, history) and full windows (current ticket
id, clerk id). Public screens get the projections of ``ticketing.public`` (the same the
REST API answers with): numbers, statuses, window numbers and the clerk's name and staff
number (shown on the window anyway); a citizen socket also gets its own ticket in the
citizen view (its id is the citizen's key); a pad gets its window's events.
"""

from __future__ import annotations

import json
from typing import Any

from hall.config import HallConfig
from hall.events import Event, EventType
from ticketing.keys import local_day
from ticketing.public import citizen_ticket, public_ticket, public_window

PASS_THROUGH = {EventType.NOTICE, EventType.ANNOUNCE, EventType.TIDE_DECISION,
                EventType.TIDE_OVERRIDE}
SECRET_KEYS = {"ticket_id", "clerk", "comment", "current", "history", "first_clerk", "id"}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _scrub(value: Any) -> Any:
    """Drop secret-looking keys from data whose schema another package owns."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def public_data(cfg: HallConfig, event: Event) -> dict[str, Any] | None:
    """The public projection of an event's data, or None when screens must not see it."""
    data = event.data
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else None
    window = data.get("window") if isinstance(data.get("window"), dict) else None
    if event.type.value.startswith("ticket.") and ticket is not None:
        out: dict[str, Any] = {"ticket": public_ticket(ticket)}
        if window is not None:
            here = window.get("current") == ticket.get("id")
            out["window"] = public_window(cfg, window, ticket.get("number") if here else None,
                                          ticket.get("status") if here else None,
                                          today=local_day(event.at, cfg))
        return out
    if event.type is EventType.WINDOW_CHANGED and window is not None:
        return {"window": public_window(cfg, window, today=local_day(event.at, cfg)),
                "reason": data.get("reason", "")}
    if event.type is EventType.RATING_GIVEN:
        win = data.get("window")
        number = win.get("number") if isinstance(win, dict) else win
        return {"window": number, "level": data.get("level"), "number": data.get("number")}
    if event.type in PASS_THROUGH:
        out = _scrub(data)
        if ticket is not None:
            out["ticket"] = public_ticket(ticket)
        if window is not None:  # a tide change carries its window like window.changed
            out["window"] = public_window(cfg, window)
        return dict(out)
    return None


def public_view(cfg: HallConfig) -> Any:
    """Event → the JSON text public screens get (None: not for them), with waiting counts."""
    def make(event: Event, waiting: dict[str, int] | None = None) -> str | None:
        data = public_data(cfg, event)
        if data is None:
            return None
        message: dict[str, Any] = {"id": event.id, "type": event.type.value, "at": event.at,
                                   "data": data}
        if waiting is not None:
            message["waiting"] = waiting
        return dumps(message)

    return make


def ticket_id_of(event: Event) -> str | None:
    ticket = event.data.get("ticket")
    if isinstance(ticket, dict):
        return str(ticket.get("id"))
    raw = event.data.get("ticket_id")
    return str(raw) if raw is not None else None


def citizen_event(cfg: HallConfig, event: Event, ticket_id: str) -> str | None:
    """The citizen's own ticket in full citizen view; other events as public screens see them."""
    if ticket_id_of(event) != ticket_id:
        return None
    data = dict(public_data(cfg, event) or {})
    if isinstance(event.data.get("ticket"), dict):
        data["ticket"] = citizen_ticket(event.data["ticket"])
    if event.type is EventType.RATING_GIVEN:
        data["level"] = event.data.get("level")
    return dumps({"id": event.id, "type": event.type.value, "at": event.at, "data": data,
                  "own": True})


def window_of(event: Event) -> int | None:
    """The window an event is about (its window, its ticket's window, a rating's window)."""
    data = event.data
    window = data.get("window")
    if isinstance(window, dict):
        window = window.get("number")
    if isinstance(window, int):
        return window
    ticket = data.get("ticket")
    if isinstance(ticket, dict) and isinstance(ticket.get("window"), int):
        return int(ticket["window"])
    return None
