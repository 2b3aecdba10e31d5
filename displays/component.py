"""The displays package as an app component: the event hub, its websockets, the pages."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from displays.hub import Hub
from displays.pages import routes as page_routes
from displays.ws import routes as ws_routes
from hall.component import Component

STATIC = Path(__file__).parent / "static"


async def start(app: Starlette) -> None:
    app.state.hub = Hub(app.state.redis, app.state.halls)


async def stop(app: Starlette) -> None:
    hub: Hub | None = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()


component = Component(
    "displays",
    routes=[*ws_routes, *page_routes, Mount("/static", StaticFiles(directory=STATIC),
                                            name="static")],
    start=start,
    stop=stop,
)
