"""The 好差评 JSON API: rate at the pad or on the citizen page; follow rectification cases."""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from hall.auth import Principal, Role, Unauthorized, require
from hall.errors import Forbidden, IllegalTransition, Invalid
from hall.http import STRICT, F, api, caller, path_int, read_body, record_model
from hall.services import services
from ticketing.model import Ticket
from ticketing.rating_store import RatingStore
from ticketing.ratings import LEVELS, Case, CaseStatus, Rating, rating_open
from ticketing.store import STORE

STAFF = (Role.ADMIN, Role.MANAGER, Role.CLERK)
MANAGERS = (Role.ADMIN, Role.MANAGER)

RATE_FIELDS = (
    F("level", str, choices=LEVELS, description="非常满意 … 非常不满意"),
    F("comment", str, required=False, max_length=500, description="optional comment"),
)



class OwnRating(BaseModel):
    """A rating as the citizen who gave it sees it."""

    model_config = STRICT
    level: str
    comment: str
    at: float


class GivenRating(OwnRating):
    number: str


class Rated(BaseModel):
    model_config = STRICT
    rating: GivenRating
    case_opened: bool


class TicketRating(BaseModel):
    model_config = STRICT
    rating: OwnRating | None
    can_rate: bool


class PadTicket(BaseModel):
    """What a rating pad shows of the ticket it asks about (no secret id, no staff id)."""

    model_config = STRICT
    number: str
    matter: str
    matter_name_zh: str
    matter_name_en: str
    window: int | None
    done_at: float | None
    clerk_name: str | None
    clerk_staff_number: str | None


class PendingRating(BaseModel):
    model_config = STRICT
    ticket: PadTicket | None


def _ratings(request: Request) -> RatingStore:
    return RatingStore(services(request).get(STORE))


def _hall(request: Request) -> str:
    hall_id: str = request.path_params["hall"]
    services(request).get(STORE).hall(hall_id)
    return hall_id


def _rated_view(rating: Any, case: Case | None) -> dict[str, Any]:
    return {"rating": {"level": rating.level.value, "comment": rating.comment, "at": rating.at,
                       "number": rating.number},
            "case_opened": case is not None}


@api("POST", "/api/halls/{hall}/tickets/{ticket}/rating",
     "Rate a finished service (好差评), once per ticket", "the citizen holding the ticket link",
     RATE_FIELDS, tag="ratings", ok=201, response=Rated)
async def rate_ticket(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    ticket = await services(request).get(STORE).ticket(hall_id, request.path_params["ticket"])
    body = await read_body(request, RATE_FIELDS)
    rating, case = await _ratings(request).rate(hall_id, ticket, body["level"],
                                                body["comment"] or "", "citizen")
    return JSONResponse(_rated_view(rating, case), status_code=201)


@api("GET", "/api/halls/{hall}/tickets/{ticket}/rating",
     "The ticket's rating, and whether it may still be rated",
     "the citizen holding the ticket link", tag="ratings", response=TicketRating)
async def get_ticket_rating(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    ticket = await services(request).get(STORE).ticket(hall_id, request.path_params["ticket"])
    rating = await _ratings(request).rating_of(hall_id, ticket.id)
    period = services(request).get(STORE).hall(hall_id).rules.rating_period_minutes
    can_rate = rating is None and rating_open(ticket, services(request).get(STORE).clock(), period)
    return JSONResponse({
        "rating": None if rating is None else {"level": rating.level.value,
                                               "comment": rating.comment, "at": rating.at},
        "can_rate": can_rate})


async def _pad_or_staff(request: Request, staff_too: bool) -> tuple[str, int, Principal]:
    hall_id = _hall(request)
    number = path_int(request, "window")
    roles = (Role.PAD, *STAFF) if staff_too else (Role.PAD,)
    who = require(await caller(request), hall_id, *roles)
    if who.role is Role.PAD and who.window != number:
        raise Forbidden(f"this pad belongs to window {who.window}, not {number}",
                        code="not_your_window")
    return hall_id, number, who


def _pad_ticket(request: Request, hall_id: str, ticket: Ticket) -> dict[str, Any]:
    cfg = services(request).get(STORE).hall(hall_id)
    staff = cfg.staff_member(ticket.clerk) if ticket.clerk else None
    matter = cfg.matter(ticket.matter)
    return {"number": ticket.number, "matter": ticket.matter,
            "matter_name_zh": matter.name_zh if matter else "",
            "matter_name_en": matter.name_en if matter else "",
            "window": ticket.window, "done_at": ticket.done_at,
            "clerk_name": staff.name if staff else ticket.clerk,
            "clerk_staff_number": staff.staff_number if staff else None}


@api("GET", "/api/halls/{hall}/windows/{window}/pending-rating",
     "The last finished, unrated ticket at the window (null when none)",
     "the window's rating pad; staff", tag="ratings", response=PendingRating)
async def pending_rating(request: Request) -> JSONResponse:
    hall_id, number, _ = await _pad_or_staff(request, staff_too=True)
    ticket = await _ratings(request).pending(hall_id, number)
    return JSONResponse({"ticket": _pad_ticket(request, hall_id, ticket) if ticket else None})


@api("POST", "/api/halls/{hall}/windows/{window}/rating",
     "The window's rating pad rates its pending ticket, once", "the window's rating pad",
     RATE_FIELDS, tag="ratings", ok=201, response=Rated)
async def rate_at_window(request: Request) -> JSONResponse:
    hall_id, number, _ = await _pad_or_staff(request, staff_too=False)
    body = await read_body(request, RATE_FIELDS)
    ticket = await _ratings(request).pending(hall_id, number)
    if ticket is None:
        raise IllegalTransition(f"window {number} has no finished ticket waiting for a rating",
                                code="nothing_to_rate")
    rating, case = await _ratings(request).rate(hall_id, ticket, body["level"],
                                                body["comment"] or "", "pad")
    return JSONResponse(_rated_view(rating, case), status_code=201)


# ---- rectification cases --------------------------------------------------------------


RatingRecord = record_model("RatingRecord", Rating, tuple(get_type_hints(Rating)))
CaseView = record_model(
    "CaseView", Case, tuple(f for f in get_type_hints(Case) if f != "rating"),
    rating=(RatingRecord, ...), status=(CaseStatus, ...), clerk_name=(str | None, ...),
    first_clerk_name=(str | None, ...))


class CaseList(BaseModel):
    """A hall's cases (newest first) and how many are in each state."""

    model_config = STRICT
    cases: list[CaseView]  # type: ignore[valid-type]
    counts: dict[str, int]


def case_view(request: Request, case: Case, now: float) -> dict[str, Any]:
    cfg = services(request).get(STORE).hall(case.hall)
    data = case.to_dict()
    data["status"] = case.status(now).value
    for key, clerk in (("clerk_name", case.rating.clerk),
                       ("first_clerk_name", case.rating.first_clerk)):
        staff = cfg.staff_member(clerk) if clerk else None
        data[key] = staff.name if staff else clerk
    return data


async def _staff(request: Request) -> tuple[str, Principal]:
    hall_id = _hall(request)
    who = require(await caller(request), hall_id, *STAFF)
    return hall_id, who


@api("GET", "/api/halls/{hall}/cases",
     "Rectification cases of bad ratings (?status=open|overdue|closed); clerks see their own",
     "manager, admin; a clerk (own cases)", tag="ratings",
     query=(F("status", str, choices=("open", "overdue", "closed")),), response=CaseList)
async def list_cases(request: Request) -> JSONResponse:
    hall_id, who = await _staff(request)
    status = request.query_params.get("status")
    if status is not None and status not in {s.value for s in CaseStatus}:
        raise Invalid("status must be open, overdue or closed")
    now = services(request).get(STORE).clock()
    cases = await _ratings(request).cases(hall_id)
    if who.role is Role.CLERK:
        cases = [c for c in cases if who.staff_id in c.rating.answerable]
    views = [case_view(request, c, now) for c in reversed(cases)]
    counts = {s.value: sum(1 for v in views if v["status"] == s.value) for s in CaseStatus}
    if status:
        views = [v for v in views if v["status"] == status]
    return JSONResponse({"cases": views, "counts": counts})


CASE_FIELDS = (
    F("reasonable", bool, required=False, description="is the bad rating reasonable (合理差评)?"),
    F("rectification", str, required=False, max_length=2000, description="what was rectified"),
    F("reply", str, required=False, max_length=2000, description="the reply to the citizen"),
)


@api("POST", "/api/halls/{hall}/cases/{ticket}",
     "Record the judgement, rectification and reply of a case; it closes when complete",
     "manager, admin", CASE_FIELDS, tag="ratings", response=CaseView)
async def handle_case(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    who = await caller(request)
    if who is None:
        raise Unauthorized("please log in")
    require(who, hall_id, *MANAGERS)
    body = await read_body(request, CASE_FIELDS)
    if body["reasonable"] is None and body["rectification"] is None and body["reply"] is None:
        raise Invalid("give at least one of reasonable, rectification, reply")
    case = await _ratings(request).handle(
        hall_id, request.path_params["ticket"], who.name, reasonable=body["reasonable"],
        rectification=body["rectification"], reply=body["reply"])
    return JSONResponse(case_view(request, case, services(request).get(STORE).clock()))


routes = [rate_ticket, get_ticket_rating, pending_rating, rate_at_window, list_cases, handle_case]
