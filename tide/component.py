"""The tide package as an app component: the manager API and the controller loop."""

from __future__ import annotations

import logging

from starlette.applications import Starlette

from hall.component import Component
from tide.controller import TideController
from tide.routes import routes
from tide.service import TideService

log = logging.getLogger("tide")


async def start(app: Starlette) -> None:
    """Parse every hall's [tide] table (a mistake stops the start) and start the loop."""
    service = TideService.for_halls(app.state.redis, app.state.store)
    app.state.tide = service
    controller = TideController(app.state.redis, service)
    app.state.tide_controller = controller
    # Take (or learn who holds) each hall's lead before the first request, not seconds later.
    try:
        await controller.step()
    except Exception:  # the loop retries; a slow Redis must not stop the app starting
        log.exception("first tide step failed")
    controller.start()


async def stop(app: Starlette) -> None:
    controller: TideController | None = getattr(app.state, "tide_controller", None)
    if controller is not None:
        await controller.stop()


component = Component("tide", routes=list(routes), start=start, stop=stop)
