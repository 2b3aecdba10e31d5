"""The app's services: one typed, frozen object built by the app factory.

Routes reach everything through ``services(request)``:

    store = services(request).get(STORE)      # typed: TicketStore
    services(request).settings.max_body_bytes

The foundation's own parts (settings, Redis client, halls, clock, auth, metrics,
health) are fields. A package's parts (the ticket store, the hub, the tide service …)
live in ``parts`` under a typed ``Key`` the package declares next to the class
(aiohttp's ``AppKey`` pattern), so the foundation never imports the packages
standing on it and a route still gets a typed value back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # annotations only: this module must import nothing that imports it
    from redis.asyncio import Redis

    from hall.auth import AuthStore
    from hall.config import HallConfig
    from hall.health import Health
    from hall.metrics import HallMetrics
    from hall.settings import Settings

T = TypeVar("T")
Clock = Callable[[], float]


class Key(Generic[T]):
    """A typed name for one part of the services (``Key[TicketStore]("ticketing.store")``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


@dataclass(frozen=True)
class Services:
    """Everything a request handler or background task may use; built once per app start."""

    settings: Settings
    redis: Redis
    halls: dict[str, HallConfig]  # shared with the ticket store
    clock: Clock
    auth: AuthStore
    metrics: HallMetrics
    health: Health
    parts: Mapping[Key[Any], object] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, key: Key[T]) -> T:
        """The part registered under ``key``; a missing part is a wiring bug (KeyError)."""
        try:
            return cast(T, self.parts[key])
        except KeyError:
            raise KeyError(f"no part {key.name!r}: is its component listed in hall.app?") from None

    def find(self, key: Key[T]) -> T | None:
        """The part under ``key``, or None when its component is not running."""
        return cast("T | None", self.parts.get(key))

    def with_parts(self, parts: Mapping[Key[Any], object]) -> Services:
        """A copy with more parts; a key provided twice is a wiring bug."""
        twice = set(parts) & set(self.parts)
        if twice:
            raise ValueError(f"parts provided twice: {sorted(k.name for k in twice)}")
        return replace(self, parts=MappingProxyType({**self.parts, **parts}))


def services(where: HTTPConnection | Starlette) -> Services:
    """The running app's services, from a request, a websocket or the app itself."""
    app = where if isinstance(where, Starlette) else where.app
    found: Services | None = getattr(app.state, "services", None)
    if found is None:
        raise RuntimeError("the app has not started: services are built in its lifespan")
    return found
