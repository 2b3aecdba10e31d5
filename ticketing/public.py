"""The public projections: the only shapes of tickets, windows, calls and halls that
surfaces reachable without staff credentials may send (REST and sockets alike).

Each is an allowlist over the full record (as ``Ticket.to_dict`` / ``WindowState.to_dict``
write it, which is also what events carry). Never public: a ticket's secret id (the
citizen's key), any clerk or staff id, the history and its notes, the priority group.
A window shows its clerk's name and staff number, which the window displays anyway.
The citizen holding a ticket's link also sees their own ticket's times and id
(``citizen_ticket``).

Each shape also has its pydantic model, which ``/openapi.json`` declares as the answer's
schema (``response=`` of ``hall.http.api``), so the fuzzing test checks every success
body against it. A model is derived from its allowlist and the record's own types
(``Ticket``, ``WindowState``), never written a second time; the public ones refuse any
other field (``additionalProperties: false``), so a leak fails the schema check too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_type_hints

from pydantic import BaseModel

from hall.config import HallConfig
from hall.config.types import Matter, Queue, Window
from hall.http import STRICT, record_model
from ticketing import rules
from ticketing.estimate import Position
from ticketing.model import Ticket, WindowState

PUBLIC_TICKET_FIELDS = ("number", "queue", "matter", "status", "window", "calls",
                        "target_window")
CITIZEN_TICKET_FIELDS = (*PUBLIC_TICKET_FIELDS, "id", "hall", "issued_at", "called_at",
                         "done_at", "no_show_at", "priority_group", "appointment", "rejoins")
CALL_FIELDS = ("number", "window", "calls", "at", "window_name_zh", "window_name_en")
TICKET_RECORD_FIELDS = tuple(get_type_hints(Ticket))  # Ticket.to_dict: staff only

# ---- the models of these shapes (the schemas /openapi.json declares) -------------------

POSITION: dict[str, Any] = {"ahead": (int | None, None),
                            "estimated_wait_minutes": (float | None, None),
                            "wait_reason": (str | None, None)}
PublicTicket = record_model("PublicTicket", Ticket, PUBLIC_TICKET_FIELDS)
CitizenView = record_model("CitizenView", Ticket, CITIZEN_TICKET_FIELDS, **POSITION)
TicketRecord = record_model("TicketRecord", Ticket, TICKET_RECORD_FIELDS)
RemoteTicketView = record_model("RemoteTicketView", Ticket, CITIZEN_TICKET_FIELDS, **POSITION,
                                page=(str, ...))  # a saved spot, and its page
PresentView = record_model("PresentView", Ticket, CITIZEN_TICKET_FIELDS, **POSITION,
                           present=(bool, ...))  # "I am here"
StaffTicketView = record_model("StaffTicketView", Ticket, TICKET_RECORD_FIELDS, **POSITION)


class PublicWindow(BaseModel):
    """``public_window``: a window as a hall screen may show it."""

    model_config = STRICT
    number: int | None
    status: str
    busy: bool
    current_number: str | None
    current_status: str | None
    staffed: bool
    clerk_name: str | None
    clerk_staff_number: str | None
    served: int
    queues: list[str]


class PublicWindowView(PublicWindow):
    """A window and its current ticket, for anyone (``GET …/windows/{n}``)."""

    ticket: PublicTicket | None  # type: ignore[valid-type]


WINDOW_EXTRA: dict[str, Any] = {"served": (int, ...), "queues": (list[str], ...),
                "clerk_name": (str | None, ...), "clerk_staff_number": (str | None, ...)}
_WINDOW_FIELDS = tuple(f for f in get_type_hints(WindowState) if f != "served")
StaffWindow = record_model("StaffWindow", WindowState, _WINDOW_FIELDS, **WINDOW_EXTRA)
StaffWindowView = record_model("StaffWindowView", WindowState, _WINDOW_FIELDS, **WINDOW_EXTRA,
                               ticket=(TicketRecord | None, ...))


class TicketAnswer(BaseModel):
    """A clerk's ticket action: the ticket as it is now (None: nobody to call)."""

    model_config = STRICT
    ticket: TicketRecord | None  # type: ignore[valid-type]


class PublicCall(BaseModel):
    """``public_call``: one line of the latest calls."""

    model_config = STRICT
    number: str | None
    window: int | None
    calls: int | None
    at: float | None
    window_name_zh: str | None
    window_name_en: str | None


class MyWindows(BaseModel):
    """The windows the calling clerk is rostered for, and their name."""

    model_config = STRICT
    windows: list[int]
    name: str


class HallSummary(BaseModel):
    model_config = STRICT
    id: str
    name_zh: str
    name_en: str
    level: str
    region: str


class HallList(BaseModel):
    """``GET /api/halls``: one page of the halls the filters keep."""

    model_config = STRICT
    total: int
    offset: int
    next_offset: int | None
    halls: list[HallSummary]


MatterInfo = record_model("MatterInfo", Matter, (
    "code", "name_zh", "name_en", "queue", "domain", "specialty", "life_event", "department",
    "expected_minutes"))
QueueInfo = record_model("QueueInfo", Queue, ("letter", "name_zh", "name_en", "domain",
                                              "specialty"), windows=(list[int], ...))
WindowInfo = record_model("WindowInfo", Window, ("number", "name_zh", "name_en"),
                          kind=(str, ...), queues=(list[str], ...))


class HallInfo(HallSummary):
    """``GET /api/halls/{hall}``: a hall's public configuration."""

    timezone: str
    priority_groups: list[str]
    integrated_domains: list[str]
    notices: list[str]
    matters: list[MatterInfo]  # type: ignore[valid-type]
    queues: list[QueueInfo]  # type: ignore[valid-type]
    windows: list[WindowInfo]  # type: ignore[valid-type]


class PublicHall(BaseModel):
    """``public_hall``: a hall's live snapshot as a public screen may see it."""

    model_config = STRICT
    hall: str
    last_event_id: str
    windows: list[PublicWindow]
    waiting: dict[str, int]
    recent_calls: list[PublicCall]
    notices: list[str]


def public_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket as a hall screen may show it."""
    return {k: ticket.get(k) for k in PUBLIC_TICKET_FIELDS}


def citizen_ticket(ticket: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket as the citizen holding its link sees it (their own id included)."""
    return {k: ticket.get(k) for k in CITIZEN_TICKET_FIELDS}


def with_position(data: dict[str, Any], position: Position | None) -> dict[str, Any]:
    """Add people ahead and the estimated wait (or why there is none) to a ticket view.

    ``estimated_wait_minutes`` is null with ``wait_reason`` (e.g. ``no_window_open``) when
    no open window serves the ticket's queue now: a wait of 0 minutes would be a lie.
    """
    if position is not None:
        data["ahead"] = position.ahead
        seconds = position.estimated_wait_seconds
        data["estimated_wait_minutes"] = round(seconds / 60.0, 1) if seconds is not None else None
        data["wait_reason"] = position.reason
    return data


def citizen_view(ticket: Ticket, position: Position | None) -> dict[str, Any]:
    """The citizen's own ticket with its position (REST answers and the ticket socket)."""
    return with_position(citizen_ticket(ticket.to_dict()), position)


def public_window(cfg: HallConfig, window: Mapping[str, Any], current_number: str | None = None,
                  current_status: str | None = None, *, today: str | None = None
                  ) -> dict[str, Any]:
    """A window as a hall screen may show it: status, busy, the current number and whether
    it is called or serving, the clerk's name and staff number, how many it served today
    (tickets finished there on ``today``; the recorded count when not given), the queues
    it serves now."""
    clerk = window.get("clerk")
    staff = cfg.staff_member(clerk) if isinstance(clerk, str) else None
    number = window.get("number")
    queues: list[str] = []
    served = window.get("served", 0)
    if isinstance(number, int):
        state = WindowState.from_dict(dict(window))
        queues = list(rules.served_queues(cfg, state))
        if today is not None:
            served = state.served_on(today)
    return {
        "number": number,
        "status": window.get("status", "closed"),
        "busy": window.get("current") is not None,
        "current_number": current_number,
        "current_status": current_status,
        "staffed": clerk is not None,
        "clerk_name": staff.name if staff else None,
        "clerk_staff_number": staff.staff_number if staff else None,
        "served": served,
        "queues": queues,
    }


def public_call(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the latest calls (number, window, how many times called, when)."""
    return {k: entry.get(k) for k in CALL_FIELDS}


def public_hall(cfg: HallConfig, snapshot: Mapping[str, Any],
                current: Mapping[str, tuple[str, str]], today: str) -> dict[str, Any]:
    """A hall snapshot (``TicketQueries.snapshot``) as a public screen may see it.

    ``current`` maps the ticket ids at the windows to their (number, status); ``today``
    is the hall's business day (windows show what they served today).
    """
    def at(window: Mapping[str, Any]) -> tuple[str | None, str | None]:
        number, status = current.get(window.get("current") or "", (None, None))
        return number, status

    return {
        "hall": cfg.id,
        "last_event_id": snapshot["last_event_id"],
        "windows": [public_window(cfg, w, *at(w), today=today) for w in snapshot["windows"]],
        "waiting": dict(snapshot["waiting"]),
        "recent_calls": [public_call(c) for c in snapshot["recent_calls"]],
        "notices": list(cfg.notices),
    }


# ---- events that are not about one ticket ---------------------------------------------

TIDE_FIELDS = ("kind", "status", "mode", "message_zh", "message_en")
DECISION_FIELDS = ("action", "window", "queues")
PUBLIC_TIDE_STATUSES = ("applied", "confirmed", "override")
class PublicNotice(BaseModel):
    """A hall notice as boards show it (``NOTICE_FIELDS``; never who posted it)."""

    model_config = STRICT
    nid: str
    zh: str
    en: str
    at: float
    fixed: bool


NOTICE_FIELDS = tuple(PublicNotice.model_fields)


class NoticeList(BaseModel):
    model_config = STRICT
    notices: list[PublicNotice]


class Withdrawn(BaseModel):
    model_config = STRICT
    withdrawn: str
ANNOUNCE_FIELDS = ("call_id", "kind", "number", "window", "call_at", "text", "texts", "audio",
                   "chime", "repeat", "max_age")


def public_tide(cfg: HallConfig, data: Mapping[str, Any], today: str | None = None
                ) -> dict[str, Any]:
    """A tide decision or override as anyone may see it: what changed at which window
    (with the board's message), never who decided it, the standby clerk it calls, or
    the controller's figures. Proposals and their answers show only that the tide panel
    changed (status and window), which is what the manager's dashboard listens for."""
    out = {k: data[k] for k in TIDE_FIELDS if k in data}
    decision = data.get("decision")
    if isinstance(decision, Mapping):
        out["decision"] = {k: decision.get(k) for k in DECISION_FIELDS}
    window = data.get("window")
    if isinstance(window, Mapping):
        out["window"] = public_window(cfg, window, today=today)
    elif isinstance(window, int):
        out["window"] = window
    if out.get("status") not in (*PUBLIC_TIDE_STATUSES, None):
        out.pop("message_zh", None)
        out.pop("message_en", None)
    return out


def public_rating(data: Mapping[str, Any]) -> dict[str, Any]:
    """A rating as anyone may see it: that the window's citizen rated (the pad moves on).
    Neither the level nor the ticket number: a board must not tell who rated how."""
    window = data.get("window")
    number = window.get("number") if isinstance(window, Mapping) else window
    return {"window": number}


def public_notice(data: Mapping[str, Any]) -> dict[str, Any]:
    """A hall notice posted or withdrawn (never who posted it)."""
    notice = data.get("notice")
    return {"action": data.get("action"),
            "notice": {k: notice.get(k) for k in NOTICE_FIELDS}
            if isinstance(notice, Mapping) else None}


def public_announce(data: Mapping[str, Any]) -> dict[str, Any]:
    """A call spoken aloud: the words, the audio to play, how often, until when."""
    return {k: data.get(k) for k in ANNOUNCE_FIELDS}
