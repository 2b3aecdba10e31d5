"""Accounts, sessions and device tokens, kept in Redis; passwords hashed with argon2.

    auth:user:<username>       hash  role, password_hash, halls (JSON), staff_id, name
    auth:session:<token>       hash  a logged-in principal (JSON); expires
    auth:device:<token>        hash  a kiosk / display / pad / phone gateway (JSON)
    auth:users                 set   all usernames

Roles: ``admin`` (every hall), ``manager`` (their halls), ``clerk`` (their hall, the
window they log in to), devices ``kiosk`` (issue tickets), ``pad`` (ratings at one
window), ``display`` (screens), ``phone`` (remote ticketing gateway). Citizens hold
no account: the unguessable ticket id in their link is their only key.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from redis.asyncio import Redis

from hall.errors import DomainError, Forbidden, Invalid


class Role(str, Enum):
    ADMIN = "admin"
    MANAGER = "manager"
    CLERK = "clerk"
    AUDITOR = "auditor"
    KIOSK = "kiosk"
    PAD = "pad"
    DISPLAY = "display"
    PHONE = "phone"


STAFF_ROLES = (Role.ADMIN, Role.MANAGER, Role.CLERK, Role.AUDITOR)
DEVICE_ROLES = (Role.KIOSK, Role.PAD, Role.DISPLAY, Role.PHONE)
DEVICE_CACHE_SECONDS = 30.0
DEVICE_CACHE_SIZE = 10_000
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    halls: tuple[str, ...]  # empty for admin = every hall
    staff_id: str | None = None
    display_name: str = ""
    window: int | None = None  # a pad device belongs to one window

    def may_see_hall(self, hall_id: str) -> bool:
        return self.role is Role.ADMIN or hall_id in self.halls

    def to_json(self) -> str:
        data = asdict(self)
        data["role"] = self.role.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Principal:
        data = json.loads(raw)
        data["role"] = Role(data["role"])
        data["halls"] = tuple(data["halls"])
        return cls(**data)


def require(principal: Principal | None, hall_id: str, *roles: Role) -> Principal:
    """The caller, if they hold one of ``roles`` for this hall; else 401/403."""
    if principal is None:
        raise Unauthorized("please log in (or present a device token)")
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs the role {allowed}; you are {principal.role.value}")
    if not principal.may_see_hall(hall_id):
        raise Forbidden(f"you have no access to hall '{hall_id}'")
    return principal


class AuthStore:
    def __init__(self, redis: Redis, session_hours: int = 12) -> None:
        self.redis = redis
        self.session_seconds = session_hours * 3600
        self._devices: dict[str, tuple[float, Principal]] = {}

    async def add_user(
        self, username: str, password: str, role: Role, halls: tuple[str, ...],
        staff_id: str | None = None, display_name: str = "",
    ) -> None:
        if role not in STAFF_ROLES:
            raise Invalid(f"role must be one of admin, manager, clerk, auditor; got {role.value}")
        if len(password) < 8:
            raise Invalid("password must have at least 8 characters", code="weak_password")
        if role is not Role.ADMIN and not halls:
            raise Invalid("managers and clerks need at least one hall")
        if role is Role.CLERK and not staff_id:
            staff_id = username
        principal = Principal(username, role, halls, staff_id, display_name or username)
        await self.redis.hset(f"auth:user:{username}", mapping={
            "principal": principal.to_json(), "password_hash": _hasher.hash(password)})
        await self.redis.sadd("auth:users", username)

    async def has_user(self, username: str) -> bool:
        return bool(await self.redis.exists(f"auth:user:{username}"))

    async def user_count(self) -> int:
        return int(await self.redis.scard("auth:users"))

    async def login(self, username: str, password: str) -> tuple[str, Principal]:
        stored = await self.redis.hmget(f"auth:user:{username}", ["principal", "password_hash"])
        principal_raw, password_hash = stored
        if principal_raw is None or password_hash is None:
            _hasher.hash(password)  # same cost whether or not the user exists
            raise Unauthorized("wrong user name or password", code="bad_credentials")
        try:
            _hasher.verify(password_hash, password)
        except (VerifyMismatchError, InvalidHashError):
            raise Unauthorized("wrong user name or password", code="bad_credentials") from None
        principal = Principal.from_json(principal_raw)
        token = secrets.token_urlsafe(32)
        await self.redis.set(f"auth:session:{token}", principal.to_json(), ex=self.session_seconds)
        return token, principal

    async def logout(self, token: str) -> None:
        await self.redis.delete(f"auth:session:{token}")

    async def add_device(self, role: Role, hall_id: str, name: str,
                         window: int | None = None) -> str:
        if role not in DEVICE_ROLES:
            raise Invalid(f"device kind must be kiosk, pad, display or phone; got {role.value}")
        token = secrets.token_urlsafe(32)
        principal = Principal(name, role, (hall_id,), window=window, display_name=name)
        await self.redis.set(f"auth:device:{token}", principal.to_json())
        return token

    async def resolve(self, token: str | None) -> Principal | None:
        """The principal of a session or device token; devices are remembered briefly.

        Device tokens never expire and every kiosk request presents one, so a resolved
        device is kept in this process for ``DEVICE_CACHE_SECONDS`` (a deleted device
        token stops working within that time). Sessions are read from Redis every time,
        so a logout takes effect at once on every process.
        """
        if not token:
            return None
        cached = self._devices.get(token)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        session = await self.redis.get(f"auth:session:{token}")
        if session is not None:
            return Principal.from_json(session)
        device = await self.redis.get(f"auth:device:{token}")
        if device is None:
            return None
        principal = Principal.from_json(device)
        if len(self._devices) >= DEVICE_CACHE_SIZE:
            self._devices.clear()
        self._devices[token] = (time.monotonic() + DEVICE_CACHE_SECONDS, principal)
        return principal
