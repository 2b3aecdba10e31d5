"""The appointments API: calendar, slots, booking (with proof of work), change, cancel, check-in.

Citizens need no account: booking asks for a solved proof-of-work challenge and is rate
limited per source address; the booking's id (128 bits, in the link the citizen gets) is
the capability to see, change and cancel it. Check-in is for kiosks and staff. Everything
citizens see of a booking is ``Booking.public_dict`` (personal data masked).
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hall import pow
from hall.auth import Role, require
from hall.errors import DomainError, Invalid
from hall.http import F, api, caller, read_body
from hall.services import services
from ticketing import public, remote_queue
from ticketing.appointments import (
    APPOINTMENTS,
    AppointmentKeys,
    AppointmentStore,
    Booking,
    parse_day,
)
from ticketing.booking_figures import day_figures
from ticketing.booking_rules import CheckIn
from ticketing.booking_views import (
    BookingView,
    CalendarView,
    ChallengeView,
    CheckinView,
    DayFiguresView,
    DeadLetters,
    SlotsView,
)
from ticketing.notify import dead_letters
from ticketing.report_store import ReportStore
from ticketing.routes import STAFF, ticket_view

CHECKIN_ROLES = (Role.KIOSK, *STAFF)


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


def _appts(request: Request) -> AppointmentStore:
    return services(request).get(APPOINTMENTS)


def _hall(request: Request) -> str:
    hall_id: str = request.path_params["hall"]
    _appts(request).tickets.hall(hall_id)
    return hall_id


def _rate_key(request: Request, store: AppointmentStore, hall_id: str) -> str:
    source = request.client.host if request.client else "unknown"
    minute = int(store.clock() // 60)
    return f"{AppointmentKeys(hall_id).p}:appt:rate:{source}:{minute}"


async def _limit(request: Request, hall_id: str, challenge: str | None = None) -> None:
    """At most ``requests_per_minute`` booking writes per source address and minute; with a
    (verified) ``challenge``, also use it up, in the same round trip (once only)."""
    store = _appts(request)
    _, _, s = store.hall(hall_id)
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.incr(_rate_key(request, store, hall_id))
        pipe.expire(_rate_key(request, store, hall_id), 120)
        if challenge is not None:
            pipe.set(store.challenge_key(hall_id, challenge), "1", nx=True, ex=900)
        answers = await pipe.execute()
    if int(answers[0]) > s.requests_per_minute:
        raise RateLimited("too many booking requests from your address; wait a minute")
    if challenge is not None and not answers[2]:
        raise Invalid("this challenge was used already", code="pow_invalid")


def _booking_json(b: Booking) -> dict[str, Any]:
    data = b.public_dict()
    data["qr"] = f"/api/halls/{b.hall}/appointments/{b.id}/qr.svg"
    data["page"] = f"/h/{b.hall}/book/{b.id}"
    return data


@api("GET", "/api/halls/{hall}/calendar",
     "Opening hours: open now, next opening, the coming days (holidays and 调休 included)",
     "anyone", tag="appointments",
     response=CalendarView)
async def calendar(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    store = _appts(request)
    _, cal, s = store.hall(hall_id)
    now = store.clock()
    today = cal.local(now).date()
    nxt = cal.next_opening(now)
    days = []
    for offset in range(15):
        day = today + timedelta(days=offset)
        holiday = cal.holiday(day)
        days.append({"day": day.isoformat(), "weekday": day.isoweekday(),
                     "periods": [{"from": f"{p.start:%H:%M}", "to": f"{p.end:%H:%M}",
                                  "appointments_only": p.appointments_only}
                                 for p in cal.periods_on(day)],
                     "holiday_zh": holiday[0] if holiday else None,
                     "holiday_en": holiday[1] if holiday else None,
                     "makeup_workday": cal.national.is_makeup_workday(day),
                     # no holiday file for the year: weekly hours alone, may still change
                     "provisional": cal.provisional(day),
                     "closure": cal.closures.get(day)})
    return JSONResponse({"open_now": cal.is_open(now),
                         "next_opening": nxt.isoformat() if nxt else None,
                         "timezone": cal.timezone, "days": days,
                         "appointments": {"enabled": s.enabled, "slot_minutes": s.slot_minutes,
                                          "horizon_days": s.horizon_days}})


@api("GET", "/api/halls/{hall}/appointments/slots",
     "A day's slots of a matter (?matter=&day=YYYY-MM-DD): capacity, booked, free",
     "anyone", tag="appointments",
     query=(F("matter", str, max_length=32), F("day", str, max_length=10)), response=SlotsView)
async def slots(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    matter = request.query_params.get("matter") or ""
    day = parse_day(request.query_params.get("day") or "")
    store = _appts(request)
    _, _, s = store.hall(hall_id)
    listed = await store.slots(hall_id, matter, day)
    return JSONResponse({"hall": hall_id, "matter": matter, "day": day.isoformat(),
                         "slot_minutes": s.slot_minutes, "slots": listed})


@api("GET", "/api/halls/{hall}/appointments/challenge",
     "A proof-of-work challenge to solve before booking (see hall/pow.py)", "anyone",
     tag="appointments", response=ChallengeView)
async def challenge(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    store = _appts(request)
    _, _, s = store.hall(hall_id)
    return JSONResponse({"challenge": pow.issue(store.secret, store.clock(), s.pow_bits),
                         "bits": s.pow_bits})


MATTER_FIELD = F("matter", str, max_length=40, description="matter code")
# Who asks, and their solved challenge: the same for a booking and a remote ticket.
CITIZEN_FIELDS = (
    F("name", str, max_length=40),
    F("phone", str, required=False, max_length=20, description="mobile number"),
    F("id_number", str, required=False, max_length=24,
      description="resident ID card number (kept only as a keyed hash)"),
    F("lang", str, required=False, choices=("zh", "en")),
    F("challenge", str, required=False, max_length=120),
    F("solution", str, required=False, max_length=20),
)
BOOK_FIELDS = (
    MATTER_FIELD,
    F("day", str, max_length=10, description="YYYY-MM-DD"),
    F("slot", str, max_length=4, description="slot label HHMM"),
    *CITIZEN_FIELDS,
)


async def _require_work(request: Request, hall_id: str, body: dict[str, Any]) -> None:
    store = _appts(request)
    who = await caller(request)
    if who is not None and who.role in STAFF and who.may_see_hall(hall_id):
        return  # a clerk booking for someone at the counter or on the phone
    _, _, s = store.hall(hall_id)
    if not body.get("challenge") or body.get("solution") is None:
        raise Invalid("solve the booking challenge first", code="pow_invalid")
    # the work first (pure, no Redis), then the rate limit and the challenge's one use
    pow.verify(store.secret, body["challenge"], body["solution"], store.clock(), s.pow_bits)
    await _limit(request, hall_id, body["challenge"])


@api("POST", "/api/halls/{hall}/appointments",
     "Book a slot (预约): name plus phone or ID card number; returns the booking code",
     "anyone (with a solved challenge); staff", BOOK_FIELDS, tag="appointments", ok=201,
     response=BookingView)
async def book(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    body = await read_body(request, BOOK_FIELDS)
    await _require_work(request, hall_id, body)
    booking = await _appts(request).book(
        hall_id, body["matter"], parse_day(body["day"]), body["slot"], name=body["name"],
        phone=body["phone"], id_number=body["id_number"], lang=body["lang"] or "zh")
    return JSONResponse(_booking_json(booking), status_code=201)


@api("GET", "/api/halls/{hall}/appointments/{booking}", "A booking (personal data masked)",
     "the citizen holding the booking link", tag="appointments", response=BookingView)
async def get_booking(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    booking = await _appts(request).get(hall_id, request.path_params["booking"])
    return JSONResponse(_booking_json(booking))


@api("GET", "/api/halls/{hall}/appointments/{booking}/qr.svg",
     "The booking code as a QR code (SVG), for the kiosk's scanner",
     "the citizen holding the booking link", tag="appointments", media=("image/svg+xml",))
async def booking_qr(request: Request) -> Response:
    hall_id = _hall(request)
    booking = await _appts(request).get(hall_id, request.path_params["booking"])
    out = io.BytesIO()
    segno.make_qr(booking.code, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False,
                                          omitsize=True)
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})


@api("POST", "/api/halls/{hall}/appointments/{booking}/cancel",
     "Cancel a booking, until the cut-off before its slot", "the citizen holding the booking link",
     tag="appointments", response=BookingView)
async def cancel_booking(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    await read_body(request, ())
    await _limit(request, hall_id)
    booking = await _appts(request).cancel(hall_id, request.path_params["booking"])
    return JSONResponse(_booking_json(booking))


CHANGE_FIELDS = (F("day", str, max_length=10, description="YYYY-MM-DD"),
                 F("slot", str, max_length=4, description="slot label HHMM"))


@api("POST", "/api/halls/{hall}/appointments/{booking}/change",
     "Move a booking to another slot, until the cut-off before its slot (a new code)",
     "the citizen holding the booking link", CHANGE_FIELDS, tag="appointments",
     response=BookingView)
async def change_booking(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    body = await read_body(request, CHANGE_FIELDS)
    await _limit(request, hall_id)
    booking = await _appts(request).change(hall_id, request.path_params["booking"],
                                           parse_day(body["day"]), body["slot"])
    return JSONResponse(_booking_json(booking))


CHECKIN_FIELDS = (
    F("code", str, required=False, max_length=20, description="booking code (typed or scanned)"),
    F("id_number", str, required=False, max_length=24, description="ID card number"),
)


@api("POST", "/api/halls/{hall}/checkin",
     "Check in a booking at the kiosk: on time → an appointment ticket near the booked time; "
     "late → a walk-in ticket", "kiosk, clerk, manager, admin", CHECKIN_FIELDS,
     tag="appointments", ok=201, response=CheckinView)
async def check_in(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    require(await caller(request), hall_id, *CHECKIN_ROLES)
    body = await read_body(request, CHECKIN_FIELDS)
    store = _appts(request)
    booking = await store.find_for_checkin(hall_id, body["code"], body["id_number"])
    done, ticket, position, verdict = await store.check_in(hall_id, booking)
    return JSONResponse({"booking": _booking_json(done), "late": verdict is CheckIn.LATE,
                         "ticket": ticket_view(ticket, position, staff=False)},
                        status_code=201)


@api("GET", "/api/halls/{hall}/appointments/days/{day}",
     "A day's booking figures per matter and slot (booked, checked in, late, no-show, fill "
     "rate, walk-in share; ticketing/booking_figures.py) and its bookings (masked)",
     "clerk, manager, admin", tag="appointments",
     response=DayFiguresView)
async def day_overview(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    require(await caller(request), hall_id, *STAFF)
    store = _appts(request)
    day = parse_day(request.path_params["day"])
    key = day.strftime("%Y%m%d")
    bookings = await store.day_bookings(hall_id, key)
    cfg, cal, _ = store.hall(hall_id)
    slots = await store.all_slots(hall_id, day)
    tickets, _ = await ReportStore(store.redis, store.tickets).day_tickets(hall_id, key)
    figures = day_figures(cfg, slots, bookings, tickets)
    statuses: dict[str, int] = {}
    for b in bookings:
        statuses[b.status] = statuses.get(b.status, 0) + 1
    return JSONResponse({
        "day": day.isoformat(), **figures, "statuses": statuses,
        "no_show_rate": figures["total"]["no_show_rate"],
        "provisional": cal.provisional(day),
        "bookings": [{k: v for k, v in b.public_dict().items() if k != "id"}
                     for b in bookings]})


@api("GET", "/api/halls/{hall}/notifications/dead",
     "Messages to citizens the gateway refused after every retry (newest first, phones masked)",
     "manager, admin", tag="appointments", response=DeadLetters)
async def dead_notifications(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    require(await caller(request), hall_id, Role.MANAGER, Role.ADMIN)
    return JSONResponse({"dead": await dead_letters(services(request).redis, hall_id)})


REMOTE_FIELDS = (MATTER_FIELD, *CITIZEN_FIELDS)


@api("POST", "/api/halls/{hall}/remote-tickets",
     "Save my spot (远程取号): today's ticket from a phone, in opening hours; say 'I am here' "
     "before it is called", "anyone (with a solved challenge); staff", REMOTE_FIELDS,
     tag="appointments", ok=201, response=public.RemoteTicketView)
async def take_remote(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    body = await read_body(request, REMOTE_FIELDS)
    await _require_work(request, hall_id, body)
    ticket, position = await remote_queue.take(
        _appts(request), hall_id, body["matter"], name=body["name"], phone=body["phone"],
        id_number=body["id_number"], lang=body["lang"] or "zh")
    data = ticket_view(ticket, position, staff=False)
    data["page"] = f"/h/{hall_id}/t/{ticket.id}"
    return JSONResponse(data, status_code=201)


@api("POST", "/api/halls/{hall}/tickets/{ticket}/here",
     "I am here: the holder of a remote ticket is in the hall (else its call is a no-show)",
     "the citizen holding the ticket link", tag="appointments", response=public.PresentView)
async def remote_here(request: Request) -> JSONResponse:
    hall_id = _hall(request)
    await read_body(request, ())
    store = _appts(request)
    ticket = await remote_queue.here(store, hall_id, request.path_params["ticket"])
    position = await store.tickets.position(hall_id, ticket)
    return JSONResponse({**ticket_view(ticket, position, staff=False), "present": True})


routes = [calendar, slots, challenge, book, day_overview, dead_notifications, get_booking,
          booking_qr, cancel_booking, change_booking, check_in, take_remote, remote_here]
