"""The tide package as an app component: the manager API and the controller loop."""

from __future__ import annotations

import logging
from typing import Any

from hall.component import Component
from hall.services import Key, Services
from ticketing.store import STORE
from tide.controller import CONTROLLER, TideController
from tide.routes import routes
from tide.service import TIDE, TideService

log = logging.getLogger("tide")


def provide(found: Services) -> dict[Key[Any], object]:
    """Parse every hall's [tide] table (a mistake stops the start)."""
    service = TideService.for_halls(found.redis, found.get(STORE))
    return {TIDE: service, CONTROLLER: TideController(found.redis, service)}


async def start(found: Services) -> None:
    controller = found.get(CONTROLLER)
    # Take (or learn who holds) each hall's lead before the first request, not seconds later;
    # policies run from the loop (1,500 halls' first runs would hold the start for seconds).
    try:
        await controller.step(run_policies=False)
    except Exception:  # the loop retries; a slow Redis must not stop the app starting
        log.exception("first tide step failed")
    controller.start()


async def stop(found: Services) -> None:
    await found.get(CONTROLLER).stop()


component = Component("tide", routes=list(routes), provide=provide, start=start, stop=stop)
