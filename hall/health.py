"""Health and metrics routes: ``/healthz``, ``/readyz``, ``/metrics``; and the drain hook.

Other packages plug in through ``app.state``:

* ``add_ready_check(app, name, check)``: ``check()`` returns True when the part works
  (the hub registers "its stream reader is running"); ``/readyz`` answers 503 while
  any check fails, so the proxy or orchestrator stops sending traffic.
* ``add_drain_hook(app, hook)``: awaited when the process starts shutting down,
  before uvicorn stops (the hub closes its websockets with 1001 "going away" so
  boards reconnect through the proxy to another process).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hall.http import api
from hall.metrics import HallMetrics

log = logging.getLogger("hall.health")
ReadyCheck = Callable[[], bool | Awaitable[bool]]
DrainHook = Callable[[], Awaitable[None]]
REDIS_PING_TIMEOUT = 1.0


def install(app: Starlette) -> None:
    """Give the app its metrics, ready checks and drain hooks (before components start)."""
    app.state.metrics = HallMetrics()
    app.state.ready_checks = {}
    app.state.drain_hooks = []
    app.state.draining = False


def add_ready_check(app: Starlette, name: str, check: ReadyCheck) -> None:
    app.state.ready_checks[name] = check


def add_drain_hook(app: Starlette, hook: DrainHook) -> None:
    app.state.drain_hooks.append(hook)


async def drain(app: Starlette) -> None:
    """Mark the process not ready and run the drain hooks (each at most a few seconds)."""
    if app.state.draining:
        return
    app.state.draining = True
    log.info("draining: not ready, closing long-lived connections")
    hooks = list(app.state.drain_hooks)
    hub = getattr(app.state, "hub", None)
    if hub is not None and hasattr(hub, "stop"):
        hooks.append(hub.stop)  # displays.hub.Hub.stop closes every socket with 1001
    for hook in hooks:
        try:
            await asyncio.wait_for(hook(), timeout=5)
        except Exception:
            log.exception("drain hook failed")


@api("GET", "/healthz", "Liveness: the process answers", "anyone", tag="operations")
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@api("GET", "/readyz", "Readiness: Redis reachable and background readers running; "
     "503 when not ready or draining", "anyone", tag="operations")
async def readyz(request: Request) -> Response:
    state = request.app.state
    checks: dict[str, Any] = {"draining": not state.draining}
    try:
        checks["redis"] = bool(await asyncio.wait_for(state.redis.ping(), REDIS_PING_TIMEOUT))
    except Exception:
        checks["redis"] = False
    hub = getattr(state, "hub", None)
    if hub is not None and hasattr(hub, "readers"):  # displays.hub: every stream reader alive
        checks["hub"] = all(r.task is None or not r.task.done() for r in hub.readers.values())
    for name, check in state.ready_checks.items():
        try:
            result = check()
            checks[name] = bool(await result if inspect.isawaitable(result) else result)
        except Exception:
            checks[name] = False
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, v in checks.items() if not v)
    return JSONResponse({"error": {"code": "not_ready", "message": f"not ready: {failing}"},
                         "checks": checks}, status_code=503)


async def metrics(request: Request) -> Response:
    state = request.app.state
    collected: HallMetrics = state.metrics
    await collected.refresh(state.redis, state.halls, state)
    return Response(collected.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [healthz, readyz, Route("/metrics", metrics)]
