"""The citizen's booking pages (phone) and the kiosk's check-in page.

``/h/{hall}/book``: hall → matter (with its required documents, 一次性告知) → day → slot →
name and phone or ID → booking code and QR; ``/h/{hall}/book/{booking}`` shows one
booking (masked), its QR, and lets the holder change or cancel it until the cut-off;
``/h/{hall}/checkin`` is the kiosk's check-in (scan the QR, type the code or the ID
number). The pages call the JSON API (ticketing/booking_routes.py) and nothing else;
they are rendered like every hall page (``displays.pages.render_hall``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from displays.pages import booking_public, hall_page, render, render_hall
from hall.errors import NotFound
from hall.services import services
from ticketing.appointments import APPOINTMENTS


async def book_page(request: Request) -> Response:
    cfg = hall_page(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    return render_hall(request, "book.html", cfg, booking=booking_public(cfg))


async def booking_page(request: Request) -> Response:
    cfg = hall_page(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    booking_id = request.path_params["booking"]
    try:
        await services(request).get(APPOINTMENTS).get(cfg.id, booking_id)
    except NotFound:
        return render(request, "error.html", status=404, code="unknown_booking")
    return render_hall(request, "book.html", cfg, booking=booking_public(cfg),
                       booking_id=booking_id)


async def checkin_page(request: Request) -> Response:
    cfg = hall_page(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    return render_hall(request, "checkin.html", cfg, booking=booking_public(cfg))


routes = [
    Route("/h/{hall}/book", book_page, name="book"),
    Route("/h/{hall}/book/{booking}", booking_page, name="booking_page"),
    Route("/h/{hall}/checkin", checkin_page, name="checkin"),
]
