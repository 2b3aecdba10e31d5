"""Sessions and device tokens, stored only under the SHA-256 of the token.

Where the keys live (a Redis Cluster spreads them; one shard failing over pauses only
the halls and accounts whose keys it holds, docs/DEPLOY.md "Recovery bound"):

    account:{a:<tag>}:user:<username>     hash  the account (hall/auth/accounts.py)
    account:{a:<tag>}:session:<sha256>    hash  principal (JSON), user, created, seen, gen
    account:{a:<tag>}:sessions:<username> set   the sha256 of each of the user's sessions
    hall:{<hall>}:device:<sha256>         hash  principal (JSON), created, expires ("" = never)
    hall:{<hall>}:devices                 set   the sha256 of each of the hall's devices
    {auth}:device-halls                   set   every hall that has (or had) a device
    {auth}:device-hall:<sha256>           string the hall of a device token issued before
                                                 the hall was named in tokens (migrated)
    {auth}:layout                         string "3": the keys are laid out as above

``<tag>`` is the account's tag: 8 hex digits of the SHA-256 of its lower-cased user name
(``account_tag``), so a session and its account share one slot and the session check
reads both in one script. A token names where its key is, so a lookup needs no global
index: a session token is ``s.<tag>.<secret>``, a device token ``d.<hall>.<secret>``
(the hall id as is when it is ASCII letters, digits, '-' and '_', else ``xn--`` and its
punycode, so a token is always ASCII). The secret is 256 random bits; only the digest
of the whole token reaches Redis (a key name, a log of Redis, a backup never holds a
usable token); a forged prefix only names a key that does not exist.

``resolve`` is one Lua round trip that checks, with the app's clock, the session's idle
and absolute timeouts and that the account's generation (``gen``, bumped by every
password, role or hall change and by a disable) still matches, so such a change ends
every session at once in every process. Devices are read from Redis on every request
too (a revocation or expiry takes effect at once everywhere), with one exception that
keeps the same bound: ``device`` serves the ticket issue, whose own script
(``ticketing/scripts/issue.lua``) checks the device's record in its atomic step. It
answers from a per-process cache of resolved device tokens (``DeviceCache``: at most
``DEVICE_CACHE_SECONDS`` old, never past the device's expiry, dropped on a revoke in
this process) together with a ``DeviceProof``; the script refuses the issue, changing
nothing, unless the record is still there and unchanged. So a revoked kiosk token
issues nothing from the moment its revocation is committed, in every process
(revocation delay zero), and the issue costs no separate round trip for the token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hall.auth.principal import Principal, Unauthorized
from hall.autopipeline import run_script
from hall.text import as_str, hall_id_chars

# Keys that are nobody's hall or account: admin listings and set-up links, never on the
# path of an authenticated request (docs/ARCHITECTURE.md "Keys").
TAG = "{auth}"
DEVICE_HALLS = TAG + ":device-halls"
DEVICE_HALL = TAG + ":device-hall:"  # sha256 → hall, for device tokens without a hall
LAYOUT = TAG + ":layout"
LAYOUT_VERSION = "3"
MAX_TOKEN = 400  # characters: a hall id of 64 CJK characters stays well below

RESOLVE_SESSION = """
local s = redis.call('HMGET', KEYS[1], 'principal', 'user', 'created', 'seen', 'gen')
if not s[1] then return false end
local now = tonumber(ARGV[1])
if now - tonumber(s[3]) >= tonumber(ARGV[3]) or now - tonumber(s[4]) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return false
end
-- the account (same tag, so same slot) must exist, be enabled and be of the session's
-- generation (an account written before generations existed counts as generation 0)
local u = redis.call('HMGET', ARGV[4] .. s[2], 'gen', 'disabled', 'principal')
if not u[3] or (u[1] or '0') ~= s[5] or u[2] == '1' then
  redis.call('DEL', KEYS[1])
  return false
end
if now - tonumber(s[4]) >= tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'seen', ARGV[1])
end
return s[1]
"""

RESOLVE_DEVICE = """
local d = redis.call('HMGET', KEYS[1], 'principal', 'expires')
if not d[1] then return false end
if d[2] and d[2] ~= '' and tonumber(ARGV[1]) >= tonumber(d[2]) then return false end
return {d[1], d[2] or ''}
"""
DEVICE_CACHE_SECONDS = 60.0  # how old a cached device may be (the issue script checks it)
DEVICE_CACHE_SIZE = 10_000  # devices a process keeps (cleared when full)


text = as_str  # Redis replies as text (hall.text, the one helper)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- key builders (tests/unit/test_cluster_keys.py checks their slots) -----------------
def account_tag(username: str) -> str:
    """The 8 hex digits naming an account's slot (user names differing in case share it)."""
    return hashlib.sha256(username.lower().encode()).hexdigest()[:8]


def _account(tag: str) -> str:
    return f"account:{{a:{tag}}}"


def user_key(username: str) -> str:
    return f"{_account(account_tag(username))}:user:{username}"


def user_sessions_key(username: str) -> str:
    return f"{_account(account_tag(username))}:sessions:{username}"


def session_key(tag: str, token_digest: str) -> str:
    return f"{_account(tag)}:session:{token_digest}"


def failures_key(username: str) -> str:
    """Login failures of an account (hall/auth/throttle.py), in the account's slot."""
    name = username.lower()
    return f"{_account(account_tag(name))}:fail:{name}"


def device_key(hall: str, token_digest: str) -> str:
    return f"hall:{{{hall}}}:device:{token_digest}"


def hall_devices_key(hall: str) -> str:
    return f"hall:{{{hall}}}:devices"


# --- token forms ---------------------------------------------------------------------------
def is_hall_id(hall: str) -> bool:
    """A hall id's characters (``hall_id_chars``), at most 100 of them."""
    return 0 < len(hall) <= 100 and hall_id_chars(hall)


def hall_code(hall: str) -> str:
    """The hall as written in a device token: ASCII, without '.'."""
    if not is_hall_id(hall):
        raise ValueError(f"not a hall id: {hall!r}")
    if hall.isascii() and not hall.startswith("xn--"):
        return hall
    return "xn--" + hall.encode("punycode").decode("ascii")


def hall_of_code(code: str) -> str | None:
    """The hall a token's code names (None: not a hall id)."""
    hall = code
    if code.startswith("xn--"):
        try:
            hall = code[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return None
    return hall if is_hall_id(hall) else None


def _is_tag(tag: str) -> bool:
    return len(tag) == 8 and all(c in "0123456789abcdef" for c in tag)


class DeviceRevoked(Unauthorized):
    """A script found the device's record changed or gone since its proof: refused (401)."""


@dataclass(frozen=True)
class DeviceProof:
    """A device's record as it was when it authorised a request: a script on the device's
    hall checks it is still so (``key`` holds ``principal`` and ``expires`` unchanged)."""

    hall: str
    key: str
    principal: bytes
    expires: bytes


@dataclass(frozen=True)
class _Cached:
    principal: Principal
    proof: DeviceProof
    fresh_until: float  # time.monotonic()
    expires: float | None  # the device's own expiry, on the auth clock


class DeviceCache:
    """Resolved device tokens of this process, by digest (never the token itself)."""

    def __init__(self) -> None:
        self._found: dict[str, _Cached] = {}

    def get(self, token_digest: str, now: float) -> tuple[Principal, DeviceProof] | None:
        hit = self._found.get(token_digest)
        if hit is None:
            return None
        if time.monotonic() >= hit.fresh_until or (hit.expires is not None and now >= hit.expires):
            del self._found[token_digest]
            return None
        return hit.principal, hit.proof

    def put(self, token_digest: str, principal: Principal, proof: DeviceProof) -> None:
        if len(self._found) >= DEVICE_CACHE_SIZE:
            self._found.clear()
        self._found[token_digest] = _Cached(
            principal, proof, time.monotonic() + DEVICE_CACHE_SECONDS,
            float(proof.expires) if proof.expires else None)

    def drop(self, token_digest: str) -> None:
        self._found.pop(token_digest, None)

    def drop_key(self, key: str) -> None:
        """Forget the device stored under ``key`` (a refused proof)."""
        for found, hit in list(self._found.items()):
            if hit.proof.key == key:
                del self._found[found]


class Tokens:
    def __init__(self, redis: Redis, clock: Callable[[], float], idle_seconds: float,
                 absolute_seconds: float) -> None:
        self.redis = redis
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._session = redis.register_script(RESOLVE_SESSION)
        self._device = redis.register_script(RESOLVE_DEVICE)
        self.devices_seen = DeviceCache()

    async def open_session(self, username: str, gen: str, principal: Principal) -> str:
        tag = account_tag(username)
        token = f"s.{tag}.{new_token()}"
        key, now = session_key(tag, digest(token)), repr(self.clock())
        every = user_sessions_key(username)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"principal": principal.to_json(), "user": username,
                                    "created": now, "seen": now, "gen": gen})
            pipe.expire(key, int(self.absolute_seconds) + 60)
            pipe.sadd(every, digest(token))
            pipe.expire(every, int(self.absolute_seconds) + 60)
            await pipe.execute()
        return token

    async def end_session(self, token: str) -> str | None:
        """End one session; returns its user name (None when it was not a session)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "s" or not _is_tag(parts[1]):
            return None
        key = session_key(parts[1], digest(token))
        user = await self.redis.hget(key, "user")
        await self.redis.delete(key)
        if user is None:
            return None
        name = text(user)
        await self.redis.srem(user_sessions_key(name), digest(token))
        return name

    async def end_sessions_of(self, username: str) -> int:
        """Delete every session of the account (its ``gen`` bump already refuses them)."""
        every = user_sessions_key(username)
        tag = account_tag(username)
        keys = [text(k) for k in await self.redis.smembers(every)]
        await self.redis.delete(every, *(session_key(tag, k) for k in keys))
        return len(keys)

    async def resolve(self, token: str | None, sessions: bool = True) -> Principal | None:
        """The principal of a live session (when ``sessions``) or device token, or None.

        One script on the slot the token names: its account's, or its hall's."""
        if not token or len(token) > MAX_TOKEN:
            return None
        parts = token.split(".")
        now = repr(self.clock())
        if len(parts) == 3 and parts[0] == "s":
            if not sessions or not _is_tag(parts[1]):
                return None
            idle = self.idle_seconds
            raw = await run_script(  # shares its trip with concurrent calls
                self.redis, self._session, [session_key(parts[1], digest(token))],
                [now, idle, self.absolute_seconds, f"{_account(parts[1])}:user:",
                 min(60.0, idle / 10)])
        elif len(parts) == 3 and parts[0] == "d":
            hall = hall_of_code(parts[1])
            if hall is None:
                return None
            raw = await run_script(self.redis, self._device, [device_key(hall, digest(token))],
                                   [now])
            raw = raw[0] if raw else None
        elif len(parts) == 1:  # issued before tokens named their hall (migrated keys)
            found = await self.redis.get(DEVICE_HALL + digest(token))
            if found is None:
                return None
            raw = await run_script(self.redis, self._device,
                                   [device_key(text(found), digest(token))], [now])
            raw = raw[0] if raw else None
        else:
            return None
        return Principal.from_json(raw) if raw else None

    async def device(self, token: str | None, hall: str
                     ) -> tuple[Principal, DeviceProof] | None:
        """A live device token of ``hall`` (the form ``d.<hall>.…``) and the proof a script
        on that hall must check before it acts (module doc); None for any other token,
        which ``resolve`` handles. From this process's cache when it has the device."""
        if not token or len(token) > MAX_TOKEN:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "d" or hall_of_code(parts[1]) != hall:
            return None
        token_digest = digest(token)
        now = self.clock()
        hit = self.devices_seen.get(token_digest, now)
        if hit is not None:
            return hit
        key = device_key(hall, token_digest)
        raw = await run_script(self.redis, self._device, [key], [repr(now)])
        if not raw:
            return None
        principal_raw, expires = (x if isinstance(x, bytes) else str(x).encode() for x in raw)
        found = Principal.from_json(principal_raw)
        proof = DeviceProof(hall, key, principal_raw, expires)
        self.devices_seen.put(token_digest, found, proof)
        return found, proof

    async def add_device(self, principal: Principal, expires: float | None = None) -> str:
        hall = principal.halls[0]
        token = f"d.{hall_code(hall)}.{new_token()}"
        key = digest(token)
        await self.redis.sadd(DEVICE_HALLS, hall)  # the listing's index, written first
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(device_key(hall, key), mapping={
                "principal": principal.to_json(), "created": repr(self.clock()),
                "expires": "" if expires is None else repr(expires)})
            pipe.sadd(hall_devices_key(hall), key)
            await pipe.execute()
        return token

    async def _every_device(self) -> list[tuple[str, str]]:
        """(hall, digest) of every device, hall by hall."""
        out = []
        for hall in sorted(text(h) for h in await self.redis.smembers(DEVICE_HALLS)):
            out += [(hall, text(k)) for k in await self.redis.smembers(hall_devices_key(hall))]
        return out

    async def devices(self) -> list[dict[str, Any]]:
        """Every device: id (the first 12 hex digits of its digest), kind, hall, name …"""
        out = []
        for hall, key in sorted(await self._every_device(), key=lambda d: d[1]):
            raw = await self.redis.hgetall(device_key(hall, key))
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
        gone = []
        for hall, key in await self._every_device():
            hit = len(ident) >= 6 and key.startswith(ident.lower())
            if not hit:
                raw = await self.redis.hget(device_key(hall, key), "principal")
                hit = raw is not None and Principal.from_json(raw).name == ident
            if hit:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(device_key(hall, key))
                    pipe.srem(hall_devices_key(hall), key)
                    await pipe.execute()
                await self.redis.delete(DEVICE_HALL + key)
                self.devices_seen.drop(key)
                gone.append(key[:12])
        return gone


async def _move(redis: Redis, source: str, target: str) -> bool:
    """Move one key to another name, across slots (DUMP + RESTORE, keeping its expiry);
    a target already there (another process moved it first) is kept."""
    payload = await redis.dump(source)
    if payload is None:
        return False
    ttl = await redis.pttl(source)
    try:
        await redis.restore(target, max(int(ttl), 0), payload)
    except ResponseError as exc:
        if "BUSYKEY" not in str(exc):
            raise
    await redis.delete(source)
    return True


async def migrate_legacy_keys(redis: Redis) -> int:
    """Lay out auth keys of an older version as above, once (``{auth}:layout``).

    Accounts written as ``{auth}:user:<name>`` (or, older, ``auth:user:<name>``) move to
    their account's slot; devices move to their hall's (their old tokens, which name no
    hall, keep working through ``{auth}:device-hall:<sha256>``: re-issue them to drop that
    dependency); the user list and open set-up links keep ``{auth}``. **Sessions of the
    old layout end**: their tokens name no account, so staff sign in again. Login
    failure counters are dropped. Cheap when done (one GET). Returns how many keys moved."""
    if text(await redis.get(LAYOUT) or "") == LAYOUT_VERSION:
        return 0
    moved = 0
    for prefix in ("auth:", TAG + ":"):
        async for raw in redis.scan_iter(match=prefix + "*", count=1000):
            name = text(raw)
            rest = name[len(prefix):]
            if rest.startswith("user:"):
                moved += await _move(redis, name, user_key(rest[len("user:"):]))
            elif rest.startswith("device:"):
                moved += await _move_device(redis, name, rest[len("device:"):])
            elif rest.startswith(("session:", "user-sessions:", "fail:")) or rest == "devices":
                await redis.delete(name)
            elif prefix == "auth:":  # users, setup:<sha256>: their name under {auth}
                moved += await _move(redis, name, f"{TAG}:{rest}")
    await redis.set(LAYOUT, LAYOUT_VERSION)
    return moved


async def _move_device(redis: Redis, name: str, key: str) -> bool:
    principal = await redis.hget(name, "principal")
    if principal is None or not Principal.from_json(principal).halls:
        await redis.delete(name)
        return False
    hall = Principal.from_json(principal).halls[0]
    await redis.sadd(DEVICE_HALLS, hall)
    await redis.set(DEVICE_HALL + key, hall)
    await redis.sadd(hall_devices_key(hall), key)
    return await _move(redis, name, device_key(hall, key))
