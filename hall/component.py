"""How a package plugs into the app: its routes, its parts and its background work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute

from hall.services import Key, Services

Provide = Callable[[Services], Mapping[Key[Any], object]]
Hook = Callable[[Services], Awaitable[None]]


@dataclass(frozen=True)
class Component:
    """A package's share of the app.

    ``provide(services)`` builds the package's parts (no I/O; it may use parts provided
    by components listed before it) and returns them by key; ``start`` runs once every
    part exists (background tasks, ready checks, scrape hooks); ``stop`` on shutdown,
    in reverse order.
    """

    name: str
    routes: list[BaseRoute] = field(default_factory=list)
    provide: Provide | None = None
    start: Hook | None = None
    stop: Hook | None = None
