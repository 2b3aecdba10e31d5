"""Server-rendered pages (Jinja2) and their one message catalogue, Chinese first.

``render(request, template, **context)`` is the one way to render a page: it adds the
language (``?lang=en`` switches and remembers it in a cookie), ``t(key, **args)`` for
the catalogue in ``displays/messages/<lang>.json``, and the catalogue itself for the
page's JS. A hall's page is found with ``hall_page`` (its 404 page when unknown) and
rendered with ``render_hall`` (the hall and the page's JS data: ``hall_public`` plus what
the page adds); the booking pages and the manager dashboard reuse them and
``templates/base.html``.
"""

from __future__ import annotations

import io
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from hall.auth import Role, require
from hall.config import DOMAINS, PRIORITY_GROUPS, SPECIALTIES, HallConfig
from hall.errors import NotFound
from hall.http import api, caller
from hall.services import services
from ticketing.calendars import appointment_settings
from ticketing.public import MyWindows
from ticketing.store import STORE

HERE = Path(__file__).parent
LANGS = ("zh", "en")
LANG_COOKIE = "hall_lang"
env = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"]))


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The page texts and the texts of every error code (``error.<code>``) in one language."""
    data: dict[str, str] = {}
    for name in (f"{lang}.json", f"errors.{lang}.json", f"booking.{lang}.json"):
        data.update(json.loads((HERE / "messages" / name).read_text("utf-8")))
    return data


def error_text(lang: str, code: str, **params: Any) -> str:
    """What a person reads for an error code: the catalogue's text, never the API's English."""
    text = catalogue(lang).get(f"error.{code}") or catalogue(lang)["error.generic"]
    return _fill(text, params)


def _fill(text: str, params: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), "")), text)


def translate(lang: str, key: str, **args: Any) -> str:
    text = catalogue(lang).get(key) or catalogue("zh").get(key) or key
    return _fill(text, args) if args else text


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    saved = request.cookies.get(LANG_COOKIE)
    return saved if saved in LANGS else "zh"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    return render_with(request, template, catalogue(lang), status, **context)


def render_with(request: Request, template: str, msgs: dict[str, str], status: int = 200,
                **context: Any) -> HTMLResponse:
    """Render with a given catalogue (the page's language already chosen by ``language``)."""
    lang = language(request)
    other = "en" if lang == "zh" else "zh"
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "device")]
    switch_href = "?" + urlencode([*query, ("lang", other)])

    def t(key: str, **args: Any) -> str:
        text = msgs.get(key) or key
        return _fill(text, args) if args else text

    page = env.get_template(template).render(
        request=request, lang=lang, other_lang=other, switch_href=switch_href, t=t,
        messages=json.dumps(msgs, ensure_ascii=False).replace("</", "<\\/"),
        **context)
    response = HTMLResponse(page, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response


def page_data(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block (safe inside HTML)."""
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def hall_public(cfg: HallConfig) -> dict[str, Any]:
    """What every page's JS knows about its hall (names in both languages)."""
    return {
        "id": cfg.id, "name_zh": cfg.name_zh, "name_en": cfg.name_en, "timezone": cfg.timezone,
        "kiosk_reset_seconds": cfg.rules.kiosk_reset_seconds,
        "pad_rating_seconds": cfg.rules.pad_rating_seconds,
        "rejoin_minutes": cfg.rules.rejoin_minutes,
        "notices": list(cfg.notices),
        "queues": [{"letter": q.letter, "name_zh": q.name_zh, "name_en": q.name_en}
                   for q in cfg.queues],
        "windows": [{"number": w.number, "name_zh": w.name_zh, "name_en": w.name_en,
                     "kind": w.kind.value, "queues": list(cfg.window_queues(w.number))}
                    for w in cfg.windows],
        "matters": [{"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en,
                     "queue": m.queue, "life_event": m.life_event or "其他",
                     "department": m.department or (DOMAINS.get(m.domain or "", ("综合",))[0]),
                     "specialty": SPECIALTIES.get(m.specialty or "", ("", ""))[0],
                     # 一次性告知: what to bring (kiosk slip, booking page)
                     "documents_zh": list(m.documents_zh), "documents_en": list(m.documents_en),
                     "notes_zh": m.notes_zh, "notes_en": m.notes_en, "bookable": m.bookable}
                    for m in cfg.matters],
        "priority_groups": [{"code": g, "name_zh": PRIORITY_GROUPS[g][0],
                             "name_en": PRIORITY_GROUPS[g][1]}
                            for g in cfg.priority_groups if g in PRIORITY_GROUPS],
    }



def booking_public(cfg: HallConfig) -> dict[str, Any]:
    """The hall's ``[appointments]`` settings a page needs (booking, check-in, kiosk ID)."""
    s = appointment_settings(cfg)
    return {"slot_minutes": s.slot_minutes, "horizon_days": s.horizon_days,
            "cutoff_minutes": s.cutoff_minutes, "enabled": s.enabled,
            "checkin_before_minutes": s.checkin_before_minutes,
            "checkin_after_minutes": s.checkin_after_minutes,
            "remote_queue": s.remote_queue, "kiosk_identity": s.kiosk_identity.value,
            "kiosk_tickets_per_day_per_matter": s.kiosk_tickets_per_day_per_matter,
            "green_channel_age": s.green_channel_age}


def hall_page(request: Request) -> HallConfig | HTMLResponse:
    """The hall of a ``/h/{hall}/…`` page, or the page saying there is no such hall."""
    cfg = services(request).halls.get(request.path_params["hall"])
    if cfg is None:
        return render(request, "error.html", status=404, code="unknown_hall")
    return cfg


def render_hall(request: Request, template: str, cfg: HallConfig, *,
                context: dict[str, Any] | None = None, **data: Any) -> HTMLResponse:
    """A hall's page: the template gets ``hall`` (and ``context``), its JS gets
    ``{"hall": hall_public(cfg), **data}``."""
    return render(request, template, hall=cfg, **(context or {}),
                  data=page_data({"hall": hall_public(cfg), **data}))


def _window_number(request: Request, cfg: HallConfig) -> int | None:
    raw = str(request.path_params["window"])
    if not raw.isdigit() or cfg.window(int(raw)) is None:
        return None
    return int(raw)


INDEX_HALLS = 50  # a province has 20,000 halls: the index shows the first, the city view all


async def index(request: Request) -> Response:
    halls = list(services(request).get(STORE).halls.values())
    return render(request, "index.html", halls=halls[:INDEX_HALLS],
                  more=max(0, len(halls) - INDEX_HALLS))


def _simple(template: str, booking: bool = False) -> Any:
    async def page(request: Request) -> Response:
        cfg = hall_page(request)
        if isinstance(cfg, HTMLResponse):
            return cfg
        more = {"booking": booking_public(cfg)} if booking else {}
        return render_hall(request, template, cfg, **more)

    return page


def _windowed(template: str) -> Any:
    async def page(request: Request) -> Response:
        cfg = hall_page(request)
        if isinstance(cfg, HTMLResponse):
            return cfg
        number = _window_number(request, cfg)
        if number is None:
            return render(request, "error.html", status=404, code="unknown_window")
        return render_hall(request, template, cfg, context={"window": cfg.window(number)},
                           window=number)

    return page


async def ticket_page(request: Request) -> Response:
    cfg = hall_page(request)
    if isinstance(cfg, HTMLResponse):
        return cfg
    ticket_id = request.path_params["ticket"]
    try:
        await services(request).get(STORE).ticket(cfg.id, ticket_id)
    except NotFound:
        return render(request, "error.html", status=404, code="unknown_ticket")
    return render_hall(request, "ticket.html", cfg, context={"ticket_id": ticket_id},
                       ticket=ticket_id)


async def ticket_qr(request: Request) -> Response:
    """The QR code of a ticket's citizen page, as SVG (drawn here, no external service)."""
    cfg = services(request).get(STORE).halls.get(request.path_params["hall"])
    ticket_id = request.path_params["ticket"]
    if cfg is None:
        return Response("unknown hall", status_code=404, media_type="text/plain")
    try:
        await services(request).get(STORE).ticket(cfg.id, ticket_id)
    except NotFound:
        return Response("unknown ticket", status_code=404, media_type="text/plain")
    url = str(request.url_for("ticket_page", hall=cfg.id, ticket=ticket_id))
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=86400"})


@api("GET", "/api/halls/{hall}/my-windows", "The windows the calling clerk is rostered for "
     "(the clerk console offers only these)", "clerk", tag="windows", response=MyWindows)
async def my_windows(request: Request) -> JSONResponse:
    cfg = services(request).get(STORE).hall(request.path_params["hall"])
    who = require(await caller(request), cfg.id, Role.CLERK)
    staff = cfg.staff_member(who.staff_id or "")
    numbers = [w.number for w in cfg.windows if staff is None or staff.rostered_for(w.number)]
    return JSONResponse({"windows": numbers, "name": staff.name if staff else who.display_name})


routes = [
    my_windows,
    Route("/", index, name="index"),
    Route("/h/{hall}/board", _simple("board.html"), name="board"),
    Route("/h/{hall}/kiosk", _simple("kiosk.html", booking=True), name="kiosk"),
    Route("/h/{hall}/clerk", _simple("clerk.html"), name="clerk"),
    Route("/h/{hall}/window/{window}", _windowed("window.html"), name="window_display"),
    Route("/h/{hall}/pad/{window}", _windowed("pad.html"), name="pad"),
    Route("/h/{hall}/t/{ticket}", ticket_page, name="ticket_page"),
    Route("/h/{hall}/t/{ticket}/qr.svg", ticket_qr, name="ticket_qr"),
]
