"""The citizen's booking pages (phone) and the kiosk's check-in page.

``/h/{hall}/book``: hall → matter (with its required documents, 一次性告知) → day → slot →
name and phone or ID → booking code and QR; ``/h/{hall}/book/{booking}`` shows one
booking (masked), its QR, and lets the holder change or cancel it until the cut-off;
``/h/{hall}/checkin`` is the kiosk's check-in (scan the QR, type the code or the ID
number). The pages call the JSON API (ticketing/booking_routes.py) and nothing else.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from displays.pages import hall_public, page_data, render
from hall.config import HallConfig
from hall.errors import NotFound
from hall.services import services
from ticketing.appointments import APPOINTMENTS
from ticketing.calendars import appointment_settings


def _hall(request: Request) -> HallConfig | HTMLResponse:
    cfg = services(request).halls.get(request.path_params["hall"])
    if cfg is None:
        return render(request, "error.html", status=404, code="unknown_hall")
    return cfg


def matters_public(cfg: HallConfig) -> list[dict[str, Any]]:
    """Each matter with what to bring (一次性告知), as the hall file lists it."""
    return [{"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en,
             "expected_minutes": m.expected_minutes,
             "documents_zh": list(getattr(m, "documents_zh", ()) or ()),
             "documents_en": list(getattr(m, "documents_en", ()) or ()),
             "notes_zh": getattr(m, "notes_zh", "") or "",
             "notes_en": getattr(m, "notes_en", "") or "",
             "bookable": bool(getattr(m, "bookable", True))}
            for m in cfg.matters]


def _data(cfg: HallConfig, **more: Any) -> str:
    s = appointment_settings(cfg)
    return page_data({"hall": hall_public(cfg), "matters": matters_public(cfg),
                      "booking": {"slot_minutes": s.slot_minutes, "horizon_days": s.horizon_days,
                                  "cutoff_minutes": s.cutoff_minutes, "enabled": s.enabled,
                                  "checkin_before_minutes": s.checkin_before_minutes,
                                  "checkin_after_minutes": s.checkin_after_minutes,
                                  "remote_queue": s.remote_queue},
                      **more})


async def book_page(request: Request) -> Response:
    cfg = _hall(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    return render(request, "book.html", hall=cfg, data=_data(cfg))


async def booking_page(request: Request) -> Response:
    cfg = _hall(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    booking_id = request.path_params["booking"]
    try:
        await services(request).get(APPOINTMENTS).get(cfg.id, booking_id)
    except NotFound:
        return render(request, "error.html", status=404, code="unknown_booking")
    return render(request, "book.html", hall=cfg, data=_data(cfg, booking_id=booking_id))


async def checkin_page(request: Request) -> Response:
    cfg = _hall(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    return render(request, "checkin.html", hall=cfg, data=_data(cfg))


routes = [
    Route("/h/{hall}/book", book_page, name="book"),
    Route("/h/{hall}/book/{booking}", booking_page, name="booking_page"),
    Route("/h/{hall}/checkin", checkin_page, name="checkin"),
]
