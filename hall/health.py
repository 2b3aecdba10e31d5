"""Health and metrics routes (``/healthz``, ``/readyz``, ``/metrics``) and draining.

Parts plug in by registering with the app's ``Health`` (``services(app).health``):

* ``health.add_check(name, check)``: ``check()`` returns True when the part works
  (the hub registers "every stream reader is running"); ``/readyz`` answers 503 while
  any check fails, so the proxy or orchestrator stops sending traffic.
* ``health.on_drain(hook)``: awaited when the process starts shutting down, before
  uvicorn stops (the hub closes its websockets with 1001 "going away" so boards
  reconnect through the proxy to another process).

``/readyz`` answers ``{"status", "draining", "checks"}``: ``draining`` is true once the
process has begun to shut down (and the answer is then 503 whatever the checks say).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hall.http import STRICT, api
from hall.services import services

if TYPE_CHECKING:
    from hall.metrics import HallMetrics

log = logging.getLogger("hall.health")
ReadyCheck = Callable[[], bool | Awaitable[bool]]
DrainHook = Callable[[], Awaitable[None]]
REDIS_PING_TIMEOUT = 1.0
DRAIN_HOOK_SECONDS = 5.0


class Health:
    """The ready checks, drain hooks and draining flag of one app process."""

    def __init__(self) -> None:
        self.checks: dict[str, ReadyCheck] = {}
        self.drain_hooks: list[DrainHook] = []
        self.draining = False

    def add_check(self, name: str, check: ReadyCheck) -> None:
        """Register a named check; ``/readyz`` reports it under ``checks.<name>``."""
        if name in self.checks:
            raise ValueError(f"ready check {name!r} registered twice")
        self.checks[name] = check

    def on_drain(self, hook: DrainHook) -> None:
        self.drain_hooks.append(hook)

    async def drain(self) -> None:
        """Mark the process not ready and run the drain hooks (each at most a few seconds)."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: not ready, closing long-lived connections")
        for hook in list(self.drain_hooks):
            try:
                await asyncio.wait_for(hook(), timeout=DRAIN_HOOK_SECONDS)
            except Exception:
                log.exception("drain hook failed")

    async def results(self) -> dict[str, bool]:
        """Run every check; one that raises counts as failing."""
        out: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                result = check()
                out[name] = bool(await result if inspect.isawaitable(result) else result)
            except Exception:
                out[name] = False
        return out


async def drain(app: Starlette) -> None:
    """Start draining a running app (called by ``hall.serving`` on shutdown)."""
    await services(app).health.drain()


class Alive(BaseModel):
    model_config = STRICT
    status: str


class Readiness(BaseModel):
    """``/readyz``: 200 ready, or 503 with the same fields and the error."""

    model_config = STRICT
    status: str
    draining: bool
    checks: dict[str, bool]
    error: dict[str, str] | None = None


@api("GET", "/healthz", "Liveness: the process answers", "anyone", tag="operations",
     response=Alive)
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@api("GET", "/readyz", "Readiness: Redis reachable and every registered check passing "
     "(the hub's stream readers …); 503 when not ready or draining", "anyone", tag="operations",
     also=(503,), response=Readiness)
async def readyz(request: Request) -> Response:
    found = services(request)
    checks: dict[str, bool] = {}
    try:
        checks["redis"] = bool(await asyncio.wait_for(found.redis.ping(), REDIS_PING_TIMEOUT))
    except Exception:
        checks["redis"] = False
    checks.update(await found.health.results())
    draining = found.health.draining
    if all(checks.values()) and not draining:
        return JSONResponse({"status": "ready", "draining": False, "checks": checks})
    failing = ["draining"] if draining else []
    failing += [k for k, v in checks.items() if not v]
    return JSONResponse({"error": {"code": "not_ready", "message": f"not ready: "
                                   f"{', '.join(failing)}"},
                         "status": "not_ready", "draining": draining, "checks": checks},
                        status_code=503)


async def metrics(request: Request) -> Response:
    found = services(request)
    collected: HallMetrics = found.metrics
    await collected.refresh(found.redis)
    return Response(collected.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [healthz, readyz, Route("/metrics", metrics)]
