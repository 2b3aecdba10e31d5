"""The ticketing JSON API: issue, look up, cancel, re-join; the clerk's window actions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hall import audit_store, paging
from hall.auth import Principal, Role, require
from hall.auth.tokens import DeviceRevoked
from hall.calendar import local_day
from hall.errors import DomainError, Forbidden, IllegalTransition, Invalid
from hall.http import F, api, caller, issuer, path_int, proof_refused, read_body
from hall.services import services
from ticketing import kiosk_identity, model, public, rules
from ticketing.appointments import APPOINTMENTS
from ticketing.estimate import Position
from ticketing.model import Channel, Ticket
from ticketing.store import STORE

STAFF = (Role.ADMIN, Role.MANAGER, Role.CLERK)
ISSUERS = (Role.KIOSK, Role.PHONE, *STAFF)



def _hall(request: Request) -> str:
    hall_id: str = request.path_params["hall"]
    services(request).get(STORE).hall(hall_id)
    return hall_id


def ticket_view(ticket: Ticket, position: Position | None, staff: bool) -> dict[str, Any]:
    """Staff get the full record; anyone else the citizen projection (ticketing.public)."""
    if staff:
        return public.with_position(ticket.to_dict(), position)
    return public.citizen_view(ticket, position)


@api("GET", "/api/halls", "The halls of this deployment, a page at a time (filters: region, "
     "level; offset, limit)", "anyone", tag="halls", query=paging.QUERY,
     response=public.HallList)
async def list_halls(request: Request) -> JSONResponse:
    q = paging.page_query(request.query_params)
    found = paging.matching(services(request).get(STORE).halls.values(), q)
    shown, next_offset = paging.page(found, q)
    return JSONResponse({"total": len(found), "offset": q.offset, "next_offset": next_offset,
                         "halls": [{"id": h.id, "name_zh": h.name_zh, "name_en": h.name_en,
                                    "level": h.level.value, "region": h.region}
                                   for h in shown]})


@api("GET", "/api/halls/{hall}", "A hall's public configuration", "anyone", tag="halls",
     response=public.HallInfo)
async def hall_info(request: Request) -> JSONResponse:
    cfg = services(request).get(STORE).hall(request.path_params["hall"])
    return JSONResponse({
        "id": cfg.id, "name_zh": cfg.name_zh, "name_en": cfg.name_en, "level": cfg.level.value,
        "region": cfg.region, "timezone": cfg.timezone,
        "priority_groups": list(cfg.priority_groups),
        "integrated_domains": list(cfg.integrated_domains), "notices": list(cfg.notices),
        "matters": [{"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en,
                     "queue": m.queue, "domain": m.domain, "specialty": m.specialty,
                     "life_event": m.life_event, "department": m.department,
                     "expected_minutes": m.expected_minutes} for m in cfg.matters],
        "queues": [{"letter": q.letter, "name_zh": q.name_zh, "name_en": q.name_en,
                    "domain": q.domain, "specialty": q.specialty,
                    "windows": list(cfg.windows_serving(q.letter))} for q in cfg.queues],
        "windows": [{"number": w.number, "name_zh": w.name_zh, "name_en": w.name_en,
                     "kind": w.kind.value, "queues": list(cfg.window_queues(w.number))}
                    for w in cfg.windows],
    })


@api("GET", "/api/halls/{hall}/state", "Live snapshot: windows, waiting counts, latest calls",
     "anyone", tag="halls", response=public.PublicHall)
async def hall_state(request: Request) -> JSONResponse:
    return JSONResponse(await services(request).get(STORE).public_state(_hall(request)))


ISSUE_FIELDS = (
    F("matter", str, description="matter code"),
    F("priority_group", str, required=False,
      description="green channel: elderly, disabled, military, pregnant, responder"),
    F("appointment", bool, required=False, description="a checked-in appointment"),
    F("reason", str, required=False,
      description="why staff give this ticket priority by hand (required then; audited)"),
    F("id_number", str, required=False, max_length=24,
      description="ID card number, where the hall asks for one (kiosk_identity); only hashed"),
)


def _reason(body: dict[str, Any], what: str) -> str:
    """The reason a rule asks for; recorded with the action's audit entry."""
    reason = (body.get("reason") or "").strip()
    if not reason:
        raise Invalid(f"{what} needs a reason (field 'reason'); it is recorded in the audit "
                      "trail", code="reason_required")
    audit_store.note(reason=reason)
    return reason


@api("POST", "/api/halls/{hall}/tickets", "Take a ticket for a matter",
     "kiosk, phone gateway, clerk, manager, admin", ISSUE_FIELDS, ok=201,
     response=public.CitizenView)
async def issue_ticket(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    found, proof = await issuer(request, hall_id)  # a device's proof: checked by the issue
    who = require(found, hall_id, *ISSUERS)
    body = await read_body(request, ISSUE_FIELDS)
    if body["priority_group"] is not None and who.role in STAFF:
        _reason(body, "giving priority by hand")
    if body["priority_group"] is not None and who.priority_groups is not None \
            and body["priority_group"] not in who.priority_groups:
        raise Forbidden(f"this device may not issue priority group '{body['priority_group']}'",
                        code="priority_group_not_allowed")
    channel = {Role.KIOSK: Channel.KIOSK, Role.PHONE: Channel.PHONE}.get(who.role, Channel.COUNTER)
    if body["appointment"]:  # the mark comes only from a check-in (POST …/checkin)
        raise IllegalTransition("an appointment ticket comes from checking in a booking",
                                code="checkin_required")
    appointments = services(request).get(APPOINTMENTS)
    admission = await kiosk_identity.admit(appointments, hall_id, body["matter"],
                                           body["id_number"], body["priority_group"])
    try:
        ticket, position = await services(request).get(STORE).issue(
            hall_id, body["matter"], channel, priority_group=admission.priority_group,
            device=proof)
    except DomainError as exc:
        await kiosk_identity.undo(appointments, admission)
        if isinstance(exc, DeviceRevoked) and proof is not None:
            proof_refused(request, proof)
        raise
    return JSONResponse(ticket_view(ticket, position, staff=False), status_code=201)


async def _ticket_for(request: Request) -> tuple[Ticket, Principal | None]:
    """The ticket in the path; whoever holds its unguessable id may see it."""
    hall_id = _hall(request)
    ticket = await services(request).get(STORE).ticket(hall_id, request.path_params["ticket"])
    return ticket, await caller(request)


def _is_staff(who: Principal | None, hall_id: str) -> bool:
    return who is not None and who.role in STAFF and who.may_see_hall(hall_id)


@api("GET", "/api/halls/{hall}/tickets/{ticket}", "A ticket with its position and estimated wait",
     "the citizen holding the ticket link; staff",
     response=public.CitizenView | public.StaffTicketView)
async def get_ticket(request: Request) -> JSONResponse:
    ticket, who = await _ticket_for(request)
    position = await services(request).get(STORE).position(ticket.hall, ticket)
    return JSONResponse(ticket_view(ticket, position, _is_staff(who, ticket.hall)))


@api("POST", "/api/halls/{hall}/tickets/{ticket}/cancel", "Cancel a waiting ticket",
     "the citizen holding the ticket link; staff", response=public.CitizenView)
async def cancel_ticket(request: Request) -> JSONResponse:
    ticket, who = await _ticket_for(request)
    await read_body(request, ())
    by = who.name if _is_staff(who, ticket.hall) and who else None
    cancelled = await services(request).get(STORE).cancel(ticket.hall, ticket.id, by)
    return JSONResponse(ticket_view(cancelled, None, staff=False))


@api("POST", "/api/halls/{hall}/tickets/{ticket}/rejoin",
     "Re-join the queue after a missed call (过号), within the hall's time limit",
     "the citizen holding the ticket link; staff", response=public.CitizenView)
async def rejoin_ticket(request: Request) -> JSONResponse:
    ticket, _ = await _ticket_for(request)
    await read_body(request, ())
    store = services(request).get(STORE)
    back = await store.rejoin(ticket.hall, ticket.id)
    return JSONResponse(ticket_view(back, await store.position(ticket.hall, back), staff=False))


# ---- windows ----------------------------------------------------------------------


async def _clerk_of_hall(request: Request) -> tuple[str, int, Principal]:
    """A clerk of this hall; the store checks they are at the window, atomically with the act."""
    hall_id = _hall(request)
    number = path_int(request, "window")
    who = require(await caller(request), hall_id, Role.CLERK)
    store = services(request).get(STORE)
    store.require_window(store.hall(hall_id), number)  # 404 before anything
    return hall_id, number, who


def _window_view(request: Request, hall_id: str, window: model.WindowState) -> dict[str, Any]:
    cfg = services(request).get(STORE).hall(hall_id)
    data = window.to_dict()
    data["served"] = window.served_on(local_day(services(request).get(STORE).clock(), cfg.tz))
    data["queues"] = list(rules.served_queues(cfg, window))
    staff = cfg.staff_member(window.clerk) if window.clerk else None
    data["clerk_name"] = staff.name if staff else None
    data["clerk_staff_number"] = staff.staff_number if staff else None
    return data


@api("GET", "/api/halls/{hall}/windows/{window}", "A window's state and its current ticket",
     "anyone", tag="windows", response=public.PublicWindowView | public.StaffWindowView)
async def get_window(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    store = services(request).get(STORE)
    window = await store.window(hall_id, path_int(request, "window"))
    current = await store.ticket(hall_id, window.current) if window.current else None
    if _is_staff(await caller(request), hall_id):  # the clerk console: notes and history
        data = _window_view(request, hall_id, window)
        data["ticket"] = current.to_dict() if current else None
        return JSONResponse(data)
    cfg = store.hall(hall_id)
    data = public.public_window(cfg, window.to_dict(), current.number if current else None,
                               current.status.value if current else None,
                               today=local_day(store.clock(), cfg.tz))
    data["ticket"] = public.public_ticket(current.to_dict()) if current else None
    return JSONResponse(data)


@api("POST", "/api/halls/{hall}/windows/{window}/login", "A clerk logs in at a window",
     "clerk", tag="windows", response=public.StaffWindow)
async def window_login(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    number = path_int(request, "window")
    who = require(await caller(request), hall_id, Role.CLERK)
    await read_body(request, ())
    store = services(request).get(STORE)
    cfg = store.hall(hall_id)
    await store.window(hall_id, number)  # 404 for an unknown window before the roster check
    staff = cfg.staff_member(who.staff_id or "")
    if staff is not None and not staff.rostered_for(number):
        raise Forbidden(f"{staff.name} is not rostered for window {number}", code="not_rostered")
    window = await store.login_window(hall_id, number, who.staff_id or who.name)
    return JSONResponse(_window_view(request, hall_id, window))


async def _window_change(request: Request, change: Any, reason: str,
                         managers_too: bool = True) -> JSONResponse:
    hall_id = _hall(request)
    number = path_int(request, "window")
    who = require(await caller(request), hall_id, *STAFF)
    await read_body(request, ())
    store = services(request).get(STORE)
    clerk = None
    if who.role is Role.CLERK or not managers_too:
        who = require(who, hall_id, Role.CLERK)
        clerk = who.staff_id or ""  # checked inside the commit, on the state it changes
    window = await store.change_window(hall_id, number, change, reason=reason, clerk=clerk)
    return JSONResponse(_window_view(request, hall_id, window))


@api("POST", "/api/halls/{hall}/windows/{window}/logout", "The clerk logs out of the window",
     "the clerk at the window; manager", tag="windows", response=public.StaffWindow)
async def window_logout(request: Request) -> JSONResponse:
    return await _window_change(request, model.logout, "logout")


@api("POST", "/api/halls/{hall}/windows/{window}/pause", "Pause the window (暂停)",
     "the clerk at the window; manager", tag="windows", response=public.StaffWindow)
async def window_pause(request: Request) -> JSONResponse:
    return await _window_change(request, model.pause, "pause")


@api("POST", "/api/halls/{hall}/windows/{window}/resume", "Resume a paused window",
     "the clerk at the window; manager", tag="windows", response=public.StaffWindow)
async def window_resume(request: Request) -> JSONResponse:
    return await _window_change(request, model.resume, "resume")


@api("POST", "/api/halls/{hall}/windows/{window}/close",
     "Close the window (after its current ticket)", "the clerk at the window; manager",
     tag="windows", response=public.StaffWindow)
async def window_close(request: Request) -> JSONResponse:
    return await _window_change(request, model.close, "close")


def _ticket_json(ticket: Ticket | None) -> JSONResponse:
    return JSONResponse({"ticket": ticket.to_dict() if ticket else None})


@api("POST", "/api/halls/{hall}/windows/{window}/call-next",
     "Call the next ticket (叫号); ticket is null when nobody waits", "the clerk at the window",
     tag="windows", response=public.TicketAnswer)
async def call_next(request: Request) -> JSONResponse:
    hall_id, number, who = await _clerk_of_hall(request)
    await read_body(request, ())
    store = services(request).get(STORE)
    return _ticket_json(await store.call_next(hall_id, number, clerk=who.staff_id))


CALL_FIELDS = (
    F("number", str, max_length=8, description="ticket number, e.g. A007"),
    F("reason", str, description="why this number is called out of order (audited)"),
)


@api("POST", "/api/halls/{hall}/windows/{window}/call", "Call a given waiting number",
     "the clerk at the window", CALL_FIELDS, tag="windows", response=public.TicketAnswer)
async def call_number(request: Request) -> JSONResponse:
    hall_id, number, who = await _clerk_of_hall(request)
    body = await read_body(request, CALL_FIELDS)
    _reason(body, "calling a number out of order")
    store = services(request).get(STORE)
    return _ticket_json(await store.call_number(hall_id, number, body["number"].upper(),
                                                clerk=who.staff_id))


def _current(action: str, summary: str) -> Any:
    @api("POST", f"/api/halls/{{hall}}/windows/{{window}}/{action}", summary,
         "the clerk at the window", tag="windows", response=public.TicketAnswer)
    async def handler(request: Request) -> JSONResponse:
        hall_id, number, who = await _clerk_of_hall(request)
        await read_body(request, ())
        method = getattr(services(request).get(STORE), action.replace("-", "_"))
        return _ticket_json(await method(hall_id, number, clerk=who.staff_id))

    return handler


TRANSFER_FIELDS = (
    F("queue", str, required=False, max_length=1, description="target queue letter"),
    F("window", int, required=False, description="target window number"),
    F("note", str, required=False, max_length=500, description="what the next clerk must know"),
)


@api("POST", "/api/halls/{hall}/windows/{window}/transfer",
     "Transfer the current ticket to a queue or a window (转移), keeping its history",
     "the clerk at the window", TRANSFER_FIELDS, tag="windows", response=public.TicketAnswer)
async def transfer(request: Request) -> JSONResponse:
    hall_id, number, who = await _clerk_of_hall(request)
    body = await read_body(request, TRANSFER_FIELDS)
    if body["window"] is not None and body["window"] < 1:
        raise Invalid("window must be a positive number")
    moved = await services(request).get(STORE).transfer(
        hall_id, number, queue=body["queue"], to_window=body["window"], note=body["note"] or "",
        clerk=who.staff_id)
    return _ticket_json(moved)


routes = [
    list_halls, hall_info, hall_state, issue_ticket, get_ticket, cancel_ticket, rejoin_ticket,
    get_window, window_login, window_logout, window_pause, window_resume, window_close,
    call_next, call_number,
    _current("recall", "Recall the current ticket (重呼)"),
    _current("start", "Start serving the called ticket"),
    _current("finish", "Finish serving the ticket"),
    _current("no-show", "Mark the called ticket as a no-show (过号)"),
    transfer,
]
