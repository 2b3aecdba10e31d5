"""What the audit trail records of a committed ticketing event (the entry's action, target).

The target names what a manager recognises (window number, ticket number, queue), never
a ticket's secret id (the citizen's key); notes, comments and the case's texts stay in
their records, the trail says only that they changed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hall.audit_store import SYSTEM, current, entry_now
from hall.audit_trail import Entry
from hall.events import EventType

NUMBER_PLACEHOLDER = "#NUMBER#"  # issue.lua puts the number it gives in its place


def action_of(event: EventType, data: dict[str, Any]) -> str:
    """``ticket.called``, ``window.pause``, ``window.tide.open``, ``rating.given`` …"""
    if event is EventType.WINDOW_CHANGED and data.get("reason"):
        return f"window.{data['reason']}"
    return event.value


def target_of(event: EventType, data: dict[str, Any]) -> str:
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else None
    window = data.get("window")
    number = window.get("number") if isinstance(window, dict) else window
    if number is None and ticket is not None:
        number = ticket.get("window")
    parts: list[str] = []
    if number is not None:
        parts.append(f"window {number}")
    if ticket is not None:
        parts.append(f"ticket {ticket.get('number') or NUMBER_PLACEHOLDER}")
    elif data.get("number"):
        parts.append(f"ticket {data['number']}")
    case = data.get("case") if isinstance(data.get("case"), dict) else None
    if case is not None and not parts:
        parts.append(f"case of ticket {case.get('number', '')}".rstrip())
    return ", ".join(parts)


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def detail_of(event: EventType, data: dict[str, Any]) -> dict[str, Any]:
    ticket = _dict(data, "ticket")
    if event is EventType.TICKET_TRANSFERRED:
        return {"to_queue": ticket.get("queue"), "to_window": ticket.get("target_window")}
    if event is EventType.TICKET_ISSUED:
        return {k: ticket[k] for k in ("queue", "matter", "channel", "priority_group",
                                       "appointment") if ticket.get(k)}
    if event is EventType.RATING_GIVEN:
        return {"level": data.get("level")}
    if event is EventType.RATING_CASE:
        case = _dict(data, "case")
        return {"status": data.get("status"), "reasonable": case.get("reasonable")}
    return {}


def entry_for(event: EventType, data: dict[str, Any], at: float) -> Entry:
    """The entry of a committed event, by whoever is acting now (``system`` outside requests)."""
    return entry_now(at, action_of(event, data), target_of(event, data),
                     detail=detail_of(event, data))


def issue_rest(queue: str, matter: str, channel: str, priority_group: str | None,
               appointment: bool) -> bytes:
    """The body of a ``ticket.issued`` entry by the current caller after its time
    (``Entry.rest``), its number still ``NUMBER_PLACEHOLDER``, encoded for the script:
    ``issue.lua`` makes the entry ``body_at(issued_at, rest)`` with the number it gives.
    ``entry_for``'s entry, built once per caller and kind of ticket (the hot path: every
    issue records one)."""
    acting = current() or SYSTEM
    if acting.detail:  # a request that noted details of its own: not worth caching
        brief = {"number": None, "window": None, "queue": queue, "matter": matter,
                 "channel": channel, "priority_group": priority_group,
                 "appointment": appointment}
        return entry_for(EventType.TICKET_ISSUED, {"ticket": brief}, 0.0).rest().encode()
    return _issue_rest(acting.actor, acting.role, acting.source, acting.reason,
                       queue, matter, channel, priority_group, appointment)


@lru_cache(maxsize=4096)
def _issue_rest(actor: str, role: str, source: str, reason: str, queue: str, matter: str,
                channel: str, priority_group: str | None, appointment: bool) -> bytes:
    data = {"ticket": {"number": None, "window": None, "queue": queue, "matter": matter,
                       "channel": channel, "priority_group": priority_group,
                       "appointment": appointment}}
    event = EventType.TICKET_ISSUED
    return Entry(at=0.0, actor=actor, role=role, source=source,
                 action=action_of(event, data), target=target_of(event, data),
                 reason=reason, detail=detail_of(event, data)).rest().encode()
