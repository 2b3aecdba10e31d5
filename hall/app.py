"""The Starlette app factory: the composition root of the web process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hall import health
from hall.auth import AuthStore, Principal
from hall.component import Component
from hall.config import HallConfig, bundled_hall_files, load_halls
from hall.errors import DomainError
from hall.http import (
    SESSION_COOKIE,
    F,
    api,
    caller,
    domain_error_handler,
    error_response,
    http_error_handler,
    openapi_document,
    read_body,
    server_error_handler,
    token_of,
)
from hall.logs import RequestLog
from hall.redis_conn import WritePolicy, async_client
from hall.settings import Settings
from ticketing.commit import Clock
from ticketing.store import TicketStore

log = logging.getLogger("hall.app")
STOP_SECONDS = 5.0


async def _bounded_stop(part: Component, app: Starlette) -> None:
    """Run a component's stop hook, giving up after STOP_SECONDS.

    With redis-py's asyncio client, a task cancelled in the middle of a command can
    stay stuck (seen on Python 3.11 with redis 8.1), and a stop hook that awaits it
    would hang the shutdown forever; ``asyncio.wait`` does not wait for the stuck task.
    """
    assert part.stop is not None
    task = asyncio.ensure_future(part.stop(app))
    done, _ = await asyncio.wait([task], timeout=STOP_SECONDS)
    if not done:
        log.warning("component %s did not stop within %.0f s", part.name, STOP_SECONDS)
    elif task.exception() is not None:
        log.error("component %s failed to stop: %r", part.name, task.exception())


def components() -> list[Component]:
    from displays.component import component as displays
    from displays.dashboard import component as dashboard
    from ticketing.component import component as ticketing
    from tide.component import component as tide
    from voice.component import component as voice

    return [ticketing, displays, dashboard, voice, tide]


def load_configured_halls(settings: Settings) -> dict[str, HallConfig]:
    files = list(settings.hall_files) or bundled_hall_files()
    return load_halls([Path(f) for f in files])


LOGIN_FIELDS = (F("username", str, max_length=64), F("password", str, max_length=256))


@api("POST", "/api/login", "Log in; returns a session token and sets the session cookie",
     "anyone", LOGIN_FIELDS, tag="auth")
async def login(request: Request) -> Response:
    body = await read_body(request, LOGIN_FIELDS)
    auth: AuthStore = request.app.state.auth
    token, principal = await auth.login(body["username"], body["password"])
    response = JSONResponse({"token": token, "user": _me(principal)})
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies,
                        max_age=auth.session_seconds)
    return response


@api("POST", "/api/logout", "End the session", "anyone", tag="auth")
async def logout(request: Request) -> Response:
    token = token_of(request)
    if token:
        await request.app.state.auth.logout(token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE)
    return response


@api("GET", "/api/me", "Who the caller is", "anyone", tag="auth")
async def me(request: Request) -> Response:
    return JSONResponse({"user": _me(await caller(request))})


def _me(principal: Principal | None) -> dict[str, object] | None:
    if principal is None:
        return None
    return {"name": principal.name, "role": principal.role.value, "halls": list(principal.halls),
            "staff_id": principal.staff_id, "display_name": principal.display_name,
            "window": principal.window}


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(503, "store_unavailable",
                          "the hall's store is not reachable right now; try again shortly")


def create_app(
    settings: Settings | None = None, *, redis: Redis | None = None,
    halls: dict[str, HallConfig] | None = None, clock: Clock = time.time,
) -> Starlette:
    """Build the app. Connections are made at start-up, never at import."""
    settings = settings or Settings.from_env()
    parts = components()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = redis or async_client(settings)
        app.state.redis = client
        app.state.halls = halls if halls is not None else load_configured_halls(settings)
        app.state.store = TicketStore(client, app.state.halls, clock)
        app.state.store.write_policy = WritePolicy.from_settings(settings)
        app.state.store.observers.append(app.state.metrics.observe)
        app.state.auth = AuthStore(client, settings.session_hours)
        started: list[Component] = []
        try:
            for part in parts:
                if part.start:
                    await part.start(app)
                started.append(part)
            yield
        finally:
            for part in reversed(started):
                if part.stop:
                    await _bounded_stop(part, app)
            if redis is None:
                await client.aclose()

    routes: list[BaseRoute] = [login, logout, me, Route("/openapi.json", openapi),
                               *health.routes]
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
            Exception: server_error_handler,
        },
        middleware=[Middleware(RequestLog, enabled=settings.log_format == "json")],
    )
    health.install(app)
    app.state.settings = settings
    app.state.clock = clock
    return app
