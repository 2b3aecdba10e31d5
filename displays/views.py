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

from hall.calendar import local_day
from hall.config import HallConfig
from hall.events import Event, EventType
from ticketing.public import (
    citizen_ticket,
    public_announce,
    public_notice,
    public_rating,
    public_ticket,
    public_tide,
    public_window,
)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def public_data(cfg: HallConfig, event: Event) -> dict[str, Any] | None:
    """The public projection of an event's data, or None when screens must not see it.

    An allowlist by kind: every kind public screens see has its projection in
    ``ticketing.public``; a new kind is not shown until it gets one."""
    data = event.data
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else None
    window = data.get("window") if isinstance(data.get("window"), dict) else None
    if event.type.value.startswith("ticket.") and ticket is not None:
        out: dict[str, Any] = {"ticket": public_ticket(ticket)}
        if window is not None:
            here = window.get("current") == ticket.get("id")
            out["window"] = public_window(cfg, window, ticket.get("number") if here else None,
                                          ticket.get("status") if here else None,
                                          today=local_day(event.at, cfg.tz))
        return out
    if event.type is EventType.WINDOW_CHANGED and window is not None:
        return {"window": public_window(cfg, window, today=local_day(event.at, cfg.tz)),
                "reason": data.get("reason", "")}
    if event.type is EventType.RATING_GIVEN:
        return public_rating(data)
    if event.type in (EventType.TIDE_DECISION, EventType.TIDE_OVERRIDE):
        return public_tide(cfg, data, today=local_day(event.at, cfg.tz))
    if event.type is EventType.NOTICE:
        return public_notice(data)
    if event.type is EventType.ANNOUNCE:
        return public_announce(data)
    return None  # any other kind (cases, appointments …) is not for public screens


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
