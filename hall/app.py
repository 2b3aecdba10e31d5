"""The Starlette app factory: the composition root of the web process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ClusterDownError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from displays import dashboard_data
from displays.component import component as displays
from displays.dashboard import component as dashboard
from hall.audit_routes import component as audit
from hall.audit_store import AuditContext
from hall.auth import AuthStore
from hall.auth.accounts import hall_names
from hall.auth.guard import SecurityHeaders
from hall.auth.routes import routes as auth_routes
from hall.auth.tokens import migrate_legacy_keys
from hall.component import Component
from hall.config import HallConfig, load_configured_halls
from hall.errors import DomainError
from hall.health import Health
from hall.health import routes as health_routes
from hall.http import (
    SESSION_COOKIE,
    domain_error_handler,
    error_response,
    http_error_handler,
    openapi_document,
    server_error_handler,
)
from hall.logs import RequestLog
from hall.metrics import HallMetrics, LoopMonitor
from hall.redis_conn import async_client
from hall.services import Clock, Key, Services
from hall.settings import Settings
from ticketing.booking_component import component as appointments
from ticketing.component import component as ticketing
from tide.component import component as tide
from tide.service import TIDE
from voice.component import component as voice

log = logging.getLogger("hall.app")
STOP_SECONDS = 5.0


async def _bounded_stop(part: Component, found: Services) -> None:
    """Run a component's stop hook, giving up after STOP_SECONDS.

    With redis-py's asyncio client, a task cancelled in the middle of a command can
    stay stuck (seen on Python 3.11 with redis 8.1), and a stop hook that awaits it
    would hang the shutdown forever; ``asyncio.wait`` does not wait for the stuck task.
    """
    assert part.stop is not None
    task = asyncio.ensure_future(part.stop(found))
    done, _ = await asyncio.wait([task], timeout=STOP_SECONDS)
    if not done:
        log.warning("component %s did not stop within %.0f s", part.name, STOP_SECONDS)
    elif task.exception() is not None:
        log.error("component %s failed to stop: %r", part.name, task.exception())


def components() -> list[Component]:
    """The packages of the app, in start order (a part may use those provided before it)."""
    return [audit, ticketing, appointments, displays, dashboard, voice, tide, _wiring]


def _wire(found: Services) -> dict[Key[Any], object]:
    # The dashboard shows the tide load measure; displays must not import tide.
    return {dashboard_data.LOAD: found.get(TIDE)}


_wiring = Component("wiring", provide=_wire)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "store_unavailable",
                          "the hall's store is not reachable right now; try again shortly")


def create_app(
    settings: Settings | None = None, *, redis: Redis | None = None,
    halls: dict[str, HallConfig] | None = None, clock: Clock = time.time,
    auth_clock: Clock = time.time,
) -> Starlette:
    """Build the app. Connections are made at start-up, never at import.

    ``clock`` is the hall's time (tickets, days, deadlines); ``auth_clock`` times sessions,
    login throttling and TOTP codes. Tests move them apart: a test's hall may jump a week
    without its staff being logged out, and a lock-out test moves only ``auth_clock``.
    """
    settings = settings or Settings.from_env()
    parts = components()
    metrics, health = HallMetrics(), Health()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = redis or async_client(settings)
        await migrate_legacy_keys(client)  # auth:* → {auth}:* once (hall.auth.tokens)
        configured = halls if halls is not None else load_configured_halls(settings)
        found = Services(settings=settings, redis=client, halls=configured, clock=clock,
                         auth=AuthStore(client, settings.session_hours,
                                        idle_minutes=settings.session_idle_minutes,
                                        clock=auth_clock,
                                        require_second_factor=settings.require_second_factor,
                                        hall_names=hall_names(configured)),
                         metrics=metrics,
                         health=health)
        started: list[Component] = []
        monitor = LoopMonitor(metrics, log_ms=settings.stall_trace_ms or 50.0,
                              trace=settings.stall_trace_ms > 0)
        monitor.start()
        try:
            for part in parts:
                if part.provide:
                    found = found.with_parts(part.provide(found))
            app.state.services = found
            for part in parts:
                if part.start:
                    await part.start(found)
                started.append(part)
            yield
        finally:
            for part in reversed(started):
                if part.stop:
                    await _bounded_stop(part, found)
            monitor.stop()
            if redis is None:
                await client.aclose()

    routes: list[BaseRoute] = [*auth_routes, Route("/openapi.json", openapi),
                               *health_routes]
    for part in parts:
        routes.extend(part.routes)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            DomainError: domain_error_handler,
            HTTPException: http_error_handler,
            RedisConnectionError: store_unavailable,
            RedisTimeoutError: store_unavailable,
            ClusterDownError: store_unavailable,  # a cluster failing over
            RedisClusterException: store_unavailable,  # no cluster node answers
            Exception: server_error_handler,
        },
        middleware=[Middleware(RequestLog, enabled=settings.log_format == "json"),
                    Middleware(AuditContext),
                    Middleware(SecurityHeaders, cookie_name=SESSION_COOKIE)],
    )
    return app
