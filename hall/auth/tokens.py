"""Sessions and device tokens, stored only under the SHA-256 of the token.

    {auth}:session:<sha256>      hash  principal (JSON), user, created, seen, gen
    {auth}:user-sessions:<user>  set   the sha256 of each of the user's sessions
    {auth}:device:<sha256>       hash  principal (JSON), created, expires ("" = never)
    {auth}:devices               set   the sha256 of every device token

A token is 256 random bits; only its digest reaches Redis (a key name, a log of
Redis, a backup never holds a usable token). ``resolve`` is one Lua round trip that
checks, with the app's clock, the session's idle and absolute timeouts and that the
account's generation (``gen``, bumped by every password, role or hall change and by a
disable) still matches, so such a change ends every session at once in every process.
Devices are read from Redis on every request too: a revocation or expiry takes effect
at once everywhere (there is no per-process cache to outlive it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from hall.auth.principal import Principal
from hall.autopipeline import run_script
from hall.text import as_str

# Every auth key carries the hash tag {auth}: one slot of a Redis Cluster, so the
# scripts and transactions over sessions, accounts and devices never cross slots
# (docs/ARCHITECTURE.md "Keys"). Before the tag they were named "auth:…" (LEGACY).
TAG = "{auth}"
LEGACY = "auth:"
SESSION = TAG + ":session:"
USER_SESSIONS = TAG + ":user-sessions:"
DEVICE = TAG + ":device:"
DEVICES = TAG + ":devices"
USER = TAG + ":user:"

RESOLVE = """
local s = redis.call('HMGET', KEYS[1], 'principal', 'user', 'created', 'seen', 'gen')
local now = tonumber(ARGV[1])
if s[1] and ARGV[6] == '1' then
  if now - tonumber(s[3]) >= tonumber(ARGV[3]) or now - tonumber(s[4]) >= tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1])
    return false
  end
  -- the account must exist, be enabled and be of the session's generation (an account
  -- written before generations existed counts as generation 0)
  local u = redis.call('HMGET', ARGV[4] .. s[2], 'gen', 'disabled', 'principal')
  if not u[3] or (u[1] or '0') ~= s[5] or u[2] == '1' then
    redis.call('DEL', KEYS[1])
    return false
  end
  if now - tonumber(s[4]) >= tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'seen', ARGV[1])
  end
  return s[1]
end
local d = redis.call('HMGET', KEYS[2], 'principal', 'expires')
if not d[1] then return false end
if d[2] and d[2] ~= '' and now >= tonumber(d[2]) then return false end
return d[1]
"""


text = as_str  # Redis replies as text (hall.text, the one helper)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Tokens:
    def __init__(self, redis: Redis, clock: Callable[[], float], idle_seconds: float,
                 absolute_seconds: float) -> None:
        self.redis = redis
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._resolve = redis.register_script(RESOLVE)

    async def open_session(self, username: str, gen: str, principal: Principal) -> str:
        token = new_token()
        key, now = digest(token), repr(self.clock())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(SESSION + key, mapping={"principal": principal.to_json(), "user": username,
                                              "created": now, "seen": now, "gen": gen})
            pipe.expire(SESSION + key, int(self.absolute_seconds) + 60)
            pipe.sadd(USER_SESSIONS + username, key)
            pipe.expire(USER_SESSIONS + username, int(self.absolute_seconds) + 60)
            await pipe.execute()
        return token

    async def end_session(self, token: str) -> str | None:
        """End one session; returns its user name (None when it was not a session)."""
        key = digest(token)
        user = await self.redis.hget(SESSION + key, "user")
        await self.redis.delete(SESSION + key)
        if user is None:
            return None
        name = text(user)
        await self.redis.srem(USER_SESSIONS + name, key)
        return name

    async def end_sessions_of(self, username: str) -> int:
        """Delete every session of the account (its ``gen`` bump already refuses them)."""
        keys = [text(k) for k in await self.redis.smembers(USER_SESSIONS + username)]
        await self.redis.delete(USER_SESSIONS + username, *(SESSION + k for k in keys))
        return len(keys)

    async def resolve(self, token: str | None, sessions: bool = True) -> Principal | None:
        """The principal of a live session (when ``sessions``) or device token, or None."""
        if not token or len(token) > 128:
            return None
        key = digest(token)
        idle = self.idle_seconds
        raw = await run_script(  # shares its trip with concurrent calls
            self.redis, self._resolve, [SESSION + key, DEVICE + key],
            [repr(self.clock()), idle, self.absolute_seconds, USER, min(60.0, idle / 10),
             "1" if sessions else "0"])
        return Principal.from_json(raw) if raw else None

    async def add_device(self, principal: Principal, expires: float | None = None) -> str:
        token = new_token()
        key = digest(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(DEVICE + key, mapping={
                "principal": principal.to_json(), "created": repr(self.clock()),
                "expires": "" if expires is None else repr(expires)})
            pipe.sadd(DEVICES, key)
            await pipe.execute()
        return token

    async def devices(self) -> list[dict[str, Any]]:
        """Every device: id (the first 12 hex digits of its digest), kind, hall, name …"""
        keys = sorted(text(k) for k in await self.redis.smembers(DEVICES))
        out = []
        for key in keys:
            raw = await self.redis.hgetall(DEVICE + key)
            if not raw:
                continue
            row = {text(k): text(v) for k, v in raw.items()}
            p = Principal.from_json(row["principal"])
            expires = float(row["expires"]) if row.get("expires") else None
            out.append({"id": key[:12], "kind": p.role.value, "hall": p.halls[0] if p.halls
                        else "", "name": p.name, "window": p.window,
                        "priority_groups": list(p.priority_groups)
                        if p.priority_groups is not None else None,
                        "created": float(row["created"]), "expires": expires,
                        "expired": expires is not None and self.clock() >= expires})
        return out

    async def revoke_device(self, ident: str) -> list[str]:
        """Revoke devices by id (digest prefix, ≥ 6 hex digits) or by exact name."""
        keys = [text(k) for k in await self.redis.smembers(DEVICES)]
        gone = []
        for key in keys:
            hit = len(ident) >= 6 and key.startswith(ident.lower())
            if not hit:
                raw = await self.redis.hget(DEVICE + key, "principal")
                hit = raw is not None and Principal.from_json(raw).name == ident
            if hit:
                await self.redis.delete(DEVICE + key)
                await self.redis.srem(DEVICES, key)
                gone.append(key[:12])
        return gone


async def migrate_legacy_keys(redis: Redis) -> int:
    """Rename keys written before the ``{auth}`` tag (``auth:…`` → ``{auth}:…``), once.

    Cheap when there is nothing to do (one EXISTS); a key already under its new name
    is left alone. Returns how many keys were renamed."""
    if not await redis.exists(LEGACY + "users", LEGACY + "devices"):
        return 0
    renamed = 0
    async for key in redis.scan_iter(match=LEGACY + "*", count=1000):
        name = text(key)
        if await redis.renamenx(name, TAG + ":" + name[len(LEGACY):]):
            renamed += 1
    return renamed
