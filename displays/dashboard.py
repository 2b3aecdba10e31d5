"""The manager's dashboard and the city view: their pages and JSON, for managers only.

    /h/{hall}/dashboard              page  live hall: queues, windows, alerts, tide, cases,
                                           today's charts, reports (tables, charts, CSV)
    /city                            page  every hall the manager may see, with its load
    /api/halls/{hall}/dashboard      JSON  live state, alerts (current and upcoming)
    /api/halls/{hall}/dashboard/today JSON  today's curves and figures
    /api/city                        JSON  the halls' load

The page listens to the hall's public websocket (displays/hub.js dispatches every
event as ``hall:event``) and re-reads the JSON when something happens; pages reuse
``displays/pages.py`` (base template, catalogue) with the dashboard's own messages.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from displays import dashboard_data
from displays.dashboard_views import CityPage, DashboardLive, DashboardToday
from displays.pages import catalogue, hall_public, language, page_data, render_with
from hall import paging
from hall.auth import Principal, Role, Unauthorized, require
from hall.component import Component
from hall.config import HallConfig
from hall.errors import Forbidden
from hall.http import api, caller
from hall.services import Key, services
from ticketing.keys import HallKeys
from ticketing.ratings import LEVEL_NAMES_ZH
from ticketing.store import STORE, TicketStore

HERE = Path(__file__).parent
MANAGERS = (Role.ADMIN, Role.MANAGER)
CACHE_SECONDS = 1.0
TODAY_CACHE_SECONDS = 5.0
Cached = dict[str, tuple[Any, float, bytes]]  # hall → (last event id, at, body)


@dataclass(frozen=True)
class AnswerCaches:
    """Dashboard answers shared by the dashboards of one process until the next event."""

    live: Cached = field(default_factory=dict)
    today: Cached = field(default_factory=dict)


CACHES: Key[AnswerCaches] = Key("displays.dashboard_caches")


@cache
def messages(lang: str) -> dict[str, str]:
    own: dict[str, str] = json.loads(
        (HERE / "messages" / f"dashboard.{lang}.json").read_text("utf-8"))
    return {**catalogue(lang), **own}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """displays.pages.render with the dashboard's messages added to the catalogue."""
    return render_with(request, template, messages(language(request)), status, **context)



def visible_halls(store: TicketStore, who: Principal) -> list[HallConfig]:
    return [cfg for cfg in store.halls.values() if who.may_see_hall(cfg.id)]


async def _page_access(request: Request, hall_id: str | None) -> Principal | HTMLResponse:
    who = await caller(request)
    if who is None:
        return render(request, "dashboard_login.html", status=401,
                      data=page_data({"next": request.url.path}))
    allowed = who.role in MANAGERS and (hall_id is None or who.may_see_hall(hall_id))
    if not allowed:
        return render(request, "error.html", status=403,
                      message=messages(language(request))["dash.forbidden"])
    return who


async def dashboard_page(request: Request) -> Response:
    hall_id = request.path_params["hall"]
    cfg = services(request).get(STORE).halls.get(hall_id)
    if cfg is None:
        return render(request, "error.html", status=404, code="unknown_hall")
    who = await _page_access(request, hall_id)
    if isinstance(who, HTMLResponse):
        return who
    data = {"hall": hall_public(cfg), "levels": {
        k.value: v for k, v in LEVEL_NAMES_ZH.items()},
        "user": who.display_name or who.name, "timezone": cfg.timezone,
        "staff": {s.id: f"{s.name} ({s.staff_number})" for s in cfg.staff}}
    return render(request, "dashboard.html", hall=cfg, data=page_data(data))


async def city_page(request: Request) -> Response:
    who = await _page_access(request, None)
    if isinstance(who, HTMLResponse):
        return who
    return render(request, "dashboard_city.html", data=page_data({}))


async def _last_event(store: TicketStore, cfg: HallConfig) -> Any:
    newest = await store.redis.xrevrange(HallKeys(cfg.id).events, count=1)
    return newest[0][0] if newest else b"0-0"


async def _manager(request: Request) -> HallConfig:
    cfg = services(request).get(STORE).hall(request.path_params["hall"])
    require(await caller(request), cfg.id, *MANAGERS)
    return cfg


@api("GET", "/api/halls/{hall}/dashboard", "Live dashboard: queues, windows, alerts "
     "(current and upcoming, each with its start time), rectification cases", "manager, admin",
     tag="dashboard", response=DashboardLive)
async def dashboard_live(request: Request) -> Response:
    cfg = await _manager(request)
    # Every open dashboard re-reads this after each event: within one process, answers
    # for the same last event are shared for up to CACHE_SECONDS (alerts carry their
    # start times, so a second-old answer still shows them on time).
    store = services(request).get(STORE)
    last = await _last_event(store, cfg)
    cache = services(request).get(CACHES).live
    cached = cache.get(cfg.id)
    if cached and cached[0] == last and time.monotonic() - cached[1] < CACHE_SECONDS:
        return Response(cached[2], media_type="application/json")
    load = services(request).get(dashboard_data.LOAD)
    body = JSONResponse(await dashboard_data.live(store, load, cfg)).body
    cache[cfg.id] = (last, time.monotonic(), bytes(body))
    return Response(body, media_type="application/json")


@api("GET", "/api/halls/{hall}/dashboard/today", "Today's curves: arrivals and served per "
     "15 minutes, people waiting, wait-time spread, per-window figures, rating rates",
     "manager, admin", tag="dashboard", response=DashboardToday)
async def dashboard_today(request: Request) -> Response:
    cfg = await _manager(request)
    # Today's curves read every ticket of the day: open dashboards of a process share one
    # answer while no event has happened (for at most TODAY_CACHE_SECONDS).
    cache = services(request).get(CACHES).today
    last = await _last_event(services(request).get(STORE), cfg)
    cached = cache.get(cfg.id)
    if cached and cached[0] == last and time.monotonic() - cached[1] < TODAY_CACHE_SECONDS:
        return Response(cached[2], media_type="application/json")
    body = bytes(JSONResponse(await dashboard_data.today(services(request).get(STORE), cfg)).body)
    cache[cfg.id] = (last, time.monotonic(), body)
    return Response(body, media_type="application/json")


@api("GET", "/api/city", "The halls the caller manages a page at a time with their load, and "
     "totals per city over all of them (the city and provincial views; filters: region, "
     "level; offset, limit)", "manager (their halls), admin (all)", tag="dashboard",
     query=paging.QUERY, response=CityPage)
async def city_api(request: Request) -> JSONResponse:
    who = await caller(request)
    if who is None:
        raise Unauthorized("please log in")
    if who.role not in MANAGERS:
        raise Forbidden(f"the city view is for managers; you are {who.role.value}")
    q = paging.page_query(request.query_params, default_limit=50)
    store = services(request).get(STORE)
    visible = paging.matching(visible_halls(store, who), q)
    shown, next_offset = paging.page(visible, q)
    return JSONResponse({
        "total": len(visible), "offset": q.offset, "next_offset": next_offset,
        "halls": await dashboard_data.city(store, shown),
        "regions": await dashboard_data.region_totals(store, visible),
    })


routes = [
    Route("/h/{hall}/dashboard", dashboard_page, name="dashboard"),
    Route("/city", city_page, name="city"),
    dashboard_live, dashboard_today, city_api,
]

component = Component("dashboard", routes=list(routes),
                      provide=lambda found: {CACHES: AnswerCaches()})
