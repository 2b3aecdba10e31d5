"""The displays package as an app component: the event hub, its websockets, the pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from displays.account_page import routes as account_routes
from displays.booking_pages import routes as booking_routes
from displays.hub import HUB, Hub
from displays.notices import routes as notice_routes
from displays.pages import routes as page_routes
from displays.ws import routes as ws_routes
from hall.component import Component
from hall.metrics import HallMetrics
from hall.services import Key, Services

STATIC = Path(__file__).parent / "static"


def provide(found: Services) -> dict[Key[Any], object]:
    return {HUB: Hub(found.redis, found.halls)}


async def start(found: Services) -> None:
    hub = found.get(HUB)
    found.health.add_check("hub", hub.readers_alive)
    found.health.on_drain(hub.stop)  # sockets closed with 1001: boards go to another process

    def gauges(metrics: HallMetrics) -> None:
        status = hub.status()
        metrics.ws_clients.clear()  # a province: the watched halls and those of own files
        for hall in {*status["halls"], *(h for h, c in found.halls.items() if not c.template)}:
            figures = status["halls"].get(hall, {})
            metrics.ws_clients.labels(hall).set(figures.get("clients", 0))
        metrics.hub_lag.set(status["lag_seconds"])

    found.metrics.on_scrape(gauges)


async def stop(found: Services) -> None:
    await found.get(HUB).stop()


component = Component(
    "displays",
    routes=[*ws_routes, *notice_routes, *page_routes, *booking_routes, *account_routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static")],
    provide=provide,
    start=start,
    stop=stop,
)
