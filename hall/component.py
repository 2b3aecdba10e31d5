"""How a package plugs into the app: its routes and its background work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.routing import BaseRoute

Hook = Callable[[Starlette], Awaitable[None]]


@dataclass
class Component:
    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    start: Hook | None = None  # called once the Redis connection and stores exist
    stop: Hook | None = None  # called on shutdown, in reverse order
