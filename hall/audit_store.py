"""The audit trail in Redis, and who is acting in the current request.

    hall:{h}:audit:<day>   list    the hall-day's chained lines (``hall.audit_trail``)
    hall:{h}:audit:head    string  "<day> <seq> <hash>" of the hall's newest entry
    hall:{h}:audit:days    zset    the days that have entries
    hall:{h}:audit:archived:<day>  string  an archived day's index entry
                                   ("<count> <sha256> <last hash>", ``hall.audit_archive``)

``APPEND_LUA`` is the one implementation of "extend the chain": the standalone append
script here and the ticketing commit script both start with it, so an action committed
through ``commit.lua`` and its audit entry are one atomic step (they cannot diverge).
Nothing in the app rewrites these keys; a day list expires ``RETENTION_DAYS`` (400)
after its first entry (the law asks for at least 180 days). A closed day may move to a
file of the data folder (``hall.audit_archiver``): its list is then replaced by an index
entry that expires when the list would have, and ``read_day`` and ``verify`` read the file.

``AuditContext`` (ASGI middleware, added by the app factory) keeps the caller of each
state-changing request in a context variable (``current()``). It reads who is calling
from the request's scope, where ``hall.http.caller`` keeps the resolved principal and the
error handler the error code, so the HTTP plumbing knows nothing of the trail; a commit
records the entry with it, and a request that changed nothing through a commit (a
login, a refused action, a tide override) gets its entry when its answer is sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hall.audit_archive import Archived, day_path, file_problem, is_day, unpack
from hall.audit_trail import (
    DEPLOYMENT,
    GENESIS,
    RETENTION_DAYS,
    Break,
    Entry,
    Stored,
    audit_day,
    parse,
    verify_day,
    verify_head,
)
from hall.http import ERROR_SCOPE, PRINCIPAL_SCOPE
from hall.services import Key, Services, services
from hall.text import as_str

log = logging.getLogger("hall.audit")
Clock = Callable[[], float]
CHAIN_KEYS_KEPT = 50_000  # hall-days whose keys ``chain_keys`` keeps

# KEYS: the day's list, the hall's head, the day index. A later day in the head wins
# (a process whose clock is a little behind never forks the chain at midnight).
APPEND_LUA = """
local function audit_append(k_list, k_head, k_days, day, body, ttl)
  local prev, seq = '""" + GENESIS + """', '1'
  local head = redis.call('GET', k_head)
  if head then
    local hday, hseq, hhash = string.match(head, '^(%S+) (%S+) (%S+)$')
    prev = hhash
    if hday >= day then
      if hday > day then k_list = string.sub(k_list, 1, -9) .. hday; day = hday end
      seq = string.format('%d', hseq + 1)
    end
  end
  local linked = seq .. ' ' .. prev .. ' '
  local digest = redis.sha1hex(linked .. body)
  redis.call('RPUSH', k_list, linked .. digest .. ' ' .. body)
  redis.call('SET', k_head, day .. ' ' .. seq .. ' ' .. digest)
  if seq == '1' then  -- a new day: index it; it is kept ttl seconds from its start
    redis.call('EXPIRE', k_list, ttl)
    redis.call('ZADD', k_days, tonumber(day), day)
  end
  return seq
end
"""
APPEND_SCRIPT = APPEND_LUA + (
    "return audit_append(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])")


def day_key(hall: str, day: str) -> str:
    return f"hall:{{{hall}}}:audit:{day}"


def head_key(hall: str) -> str:
    return f"hall:{{{hall}}}:audit:head"


def days_key(hall: str) -> str:
    return f"hall:{{{hall}}}:audit:days"


def archived_key(hall: str, day: str) -> str:
    return f"hall:{{{hall}}}:audit:archived:{day}"


# ---- who is acting -----------------------------------------------------------------


@dataclass
class Acting:
    """The caller of one state-changing request, filled in as the request goes.

    Who acts is the principal ``hall.http.caller`` kept in the request's scope, unless a
    route named someone else (a login names the account it tries)."""

    source: str
    method: str
    path: str
    hall: str | None = None
    scope: MutableMapping[str, Any] = field(default_factory=dict)
    named_actor: str | None = None
    named_role: str | None = None
    named_halls: tuple[str, ...] | None = None
    action: str | None = None
    target: str = ""
    reason: str = ""
    recorded: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def _principal(self) -> Any:
        return self.scope.get(PRINCIPAL_SCOPE)

    @property
    def actor(self) -> str:
        p = self._principal()
        return self.named_actor or (p.name if p is not None else "anonymous")

    @property
    def role(self) -> str:
        p = self._principal()
        return self.named_role or (p.role.value if p is not None else "anonymous")

    @property
    def halls(self) -> tuple[str, ...]:
        p = self._principal()
        if self.named_halls is not None:
            return self.named_halls
        return tuple(p.halls) if p is not None else ()

    @property
    def error(self) -> str | None:
        code = self.scope.get(ERROR_SCOPE)
        return str(code) if code else None


_current: ContextVar[Acting | None] = ContextVar("hall_audit_acting", default=None)
SYSTEM = Acting(source="-", method="", path="", named_actor="system", named_role="system")


def current() -> Acting | None:
    """The request being audited (None outside a state-changing request)."""
    return _current.get()


def note(action: str | None = None, *, target: str | None = None, reason: str | None = None,
         actor: str | None = None, role: str | None = None,
         halls: tuple[str, ...] | None = None, **detail: Any) -> None:
    """Name the action of this request (and a reason the rules ask for) for its entry."""
    acting = _current.get()
    if acting is None:
        return
    if action is not None:
        acting.action = action
    if target is not None:
        acting.target = target
    if reason:
        acting.reason = reason
    if actor is not None:
        acting.named_actor = actor
    if role is not None:
        acting.named_role = role
    if halls is not None:
        acting.named_halls = halls
    acting.detail.update(detail)


def entry_now(at: float, action: str, target: str = "", result: str = "ok",
              detail: dict[str, Any] | None = None) -> Entry:
    """An entry for the current caller (``system`` outside a request)."""
    acting = _current.get() or SYSTEM
    return Entry(at=at, actor=acting.actor, role=acting.role, source=acting.source,
                 action=action, target=target or acting.target,
                 result=result, reason=acting.reason,
                 detail={**acting.detail, **(detail or {})})


def mark_recorded() -> None:
    acting = _current.get()
    if acting is not None:
        acting.recorded += 1


# ---- the store ---------------------------------------------------------------------


class AuditTrail:
    """Append to, read, query and verify the trails of every hall (and the deployment's)."""

    def __init__(self, redis: Redis, zones: dict[str, ZoneInfo], clock: Clock = time.time,
                 enabled: bool = True, retention_days: int = RETENTION_DAYS,
                 data_dir: Path | None = None) -> None:
        self.redis = redis
        self.data_dir = data_dir  # where archived days' files are (None: none readable)
        self.zones = zones
        self.clock = clock
        self.enabled = enabled
        self.ttl = retention_days * 86400
        self._ttl = str(self.ttl)
        self.ttl_arg = self._ttl.encode()
        self._append = redis.register_script(APPEND_SCRIPT)
        self._chains: dict[tuple[str, str], list[str]] = {}

    def day(self, hall: str, at: float) -> str:
        return audit_day(at, self.zones.get(hall))

    def spec(self, hall: str, entry: Entry) -> tuple[list[str], list[str]]:
        """Keys and arguments of ``audit_append`` for this entry (for a commit script)."""
        return self.spec_body(hall, self.day(hall, entry.at), entry.body())

    def spec_body(self, hall: str, day: str, body: str) -> tuple[list[str], list[str]]:
        """The same for an entry's body already built, on the hall-day ``day``."""
        return self.chain_keys(hall, day), [day, body, self._ttl]

    def chain_keys(self, hall: str, day: str) -> list[str]:
        """The keys of ``audit_append`` on the hall-day ``day`` (day list, head, day
        index), built once per hall-day: the issue script takes them on every issue."""
        found = self._chains.get((hall, day))
        if found is None:
            if len(self._chains) >= CHAIN_KEYS_KEPT:
                self._chains.clear()
            found = [day_key(hall, day), head_key(hall), days_key(hall)]
            self._chains[(hall, day)] = found
        return found

    async def append(self, hall: str, entry: Entry) -> None:
        """Record an entry on its own (for actions no ticketing commit carries)."""
        if not self.enabled:
            return
        keys, args = self.spec(hall, entry)
        await self._append(keys=keys, args=args)

    async def record(self, hall: str, action: str, target: str = "", result: str = "ok",
                     **detail: Any) -> None:
        await self.append(hall, entry_now(self.clock(), action, target, result, detail))

    async def days(self, hall: str) -> list[str]:
        return [as_str(d) for d in await self.redis.zrange(days_key(hall), 0, -1)]

    async def read_day(self, hall: str, day: str) -> list[str]:
        """A day's stored lines, from Redis or, once archived, from its file."""
        return (await self.day_lines(hall, day))[0]

    async def day_lines(self, hall: str, day: str) -> tuple[list[str], str | None]:
        """A day's stored lines and, for an archived day, what is wrong with its file (None:
        intact, or not archived). A day in neither place has no lines."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(day_key(hall, day), 0, -1)
            pipe.get(archived_key(hall, day))
            raw, indexed = await pipe.execute()
        live = [as_str(x) for x in raw]
        if not indexed:
            return live, None
        # archived (and, rarely, entries appended to it since: a process's clock far behind)
        archived, problem = await self.file_lines(hall, day, Archived.parse(as_str(indexed)))
        return archived + live, problem

    async def file_lines(self, hall: str, day: str, index: Archived
                         ) -> tuple[list[str], str | None]:
        """An archived day's lines from its file, checked against its index entry."""
        data = await asyncio.to_thread(self._read_file, hall, day)
        problem = file_problem(index, data)
        if problem is not None or data is None:
            return [], problem
        try:
            return unpack(data), None
        except (OSError, ValueError, EOFError):
            return [], "its archived file is damaged"

    async def archived(self, hall: str, day: str) -> Archived | None:
        """The index entry of an archived day (None: not archived, or past retention)."""
        raw = await self.redis.get(archived_key(hall, day))
        return Archived.parse(as_str(raw)) if raw else None

    def archive_file(self, hall: str, day: str) -> Path | None:
        return (Path(day_path(self.data_dir, hall, day))
                if self.data_dir is not None and is_day(day) else None)

    def _read_file(self, hall: str, day: str) -> bytes | None:
        path = self.archive_file(hall, day)
        try:
            return path.read_bytes() if path is not None else None
        except FileNotFoundError:
            return None

    async def entries(self, hall: str, first: date, last: date) -> list[Stored]:
        """Entries of the hall-days ``first`` … ``last`` (inclusive), oldest first."""
        low, high = first.strftime("%Y%m%d"), last.strftime("%Y%m%d")
        out: list[Stored] = []
        for day in await self.days(hall):
            if low <= day <= high:
                out.extend(parse(hall, day, raw) for raw in await self.read_day(hall, day))
        return out

    async def verify(self, hall: str) -> tuple[int, Break | None]:
        """Check the hall's whole trail; (entries checked, first break or None)."""
        days = await self.days(hall)
        # a day list expires ``ttl`` after its first entry: the day of (now - ttl), in the
        # hall's zone, may be gone already (its first entry was earlier in that day)
        last_expired = self.day(hall, self.clock() - self.ttl)
        prev: str | None = None
        count = 0
        lines: list[str] = []
        for index, day in enumerate(days):
            lines, problem = await self.day_lines(hall, day)
            if problem is not None:
                return count, Break(hall, day, 1, problem)
            if not lines:
                if day <= last_expired:
                    prev = None  # expired by the retention rule; the next day starts a chain
                    continue
                return count, Break(hall, day, 1, "the whole day was deleted")
            if index == 0 and day > last_expired:
                prev = GENESIS  # nothing expired yet: the chain starts at the beginning
            prev, broken = verify_day(hall, day, lines, prev)
            if broken is not None:
                return count + broken.seq - 1, broken
            count += len(lines)
        head = await self.redis.get(head_key(hall))
        if days:
            broken = verify_head(hall, days[-1], lines, as_str(head) if head else None)
            if broken is not None:
                return count, broken
        elif head:
            return 0, Break(hall, as_str(head).split(" ")[0], 1, "every day was deleted")
        return count, None


AUDIT: Key[AuditTrail] = Key("hall.audit")


def trail_of(app: Any) -> AuditTrail | None:
    """The running app's audit trail (None before start-up)."""
    try:
        return services(app).find(AUDIT)
    except RuntimeError:
        return None


def provide(found: Services) -> dict[Key[Any], object]:
    zones = {h: cfg.tz for h, cfg in found.halls.items()}
    return {AUDIT: AuditTrail(found.redis, zones, found.clock,
                              data_dir=found.settings.data_dir)}


# ---- the middleware ----------------------------------------------------------------

HALL_IN_PATH = re.compile(r"^/api/halls/([^/]+)")
READS = ("GET", "HEAD", "OPTIONS")


class AuditContext:
    """Give every state-changing API request an ``Acting``; record it if no commit did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") in READS
                or not str(scope.get("path", "")).startswith("/api/")):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        path = str(scope.get("path", ""))
        match = HALL_IN_PATH.match(path)
        acting = Acting(source=client[0] if client else "-", method=str(scope["method"]),
                        path=path, hall=match.group(1) if match else None, scope=scope)
        token = _current.set(acting)
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            _current.reset(token)
            if not acting.recorded:
                await self._record(scope, acting, status)

    async def _record(self, scope: Scope, acting: Acting, status: int) -> None:
        trail = trail_of(scope["app"])
        if trail is None:
            return
        if status < 400:
            result = "ok"
        elif status >= 500:
            result = f"failed:{acting.error or status}"
        else:
            result = f"refused:{acting.error or status}"
        entry = Entry(at=trail.clock(), actor=acting.actor, role=acting.role,
                      source=acting.source,
                      action=acting.action or f"{acting.method} {_route_shape(acting.path)}",
                      target=acting.target, result=result, reason=acting.reason,
                      detail=acting.detail)
        halls = [acting.hall] if acting.hall in trail.zones else list(
            h for h in acting.halls if h in trail.zones) or [DEPLOYMENT]
        try:
            for hall in halls:
                await trail.append(hall, entry)
        except Exception:  # the answer is sent already; never lose the fact silently
            log.exception("could not record an audit entry for %s %s", acting.method,
                          acting.path)


def _route_shape(path: str) -> str:
    """The path with its ticket ids blanked: a ticket link is a secret, never recorded."""
    return re.sub(r"/tickets/[^/]+", "/tickets/{ticket}", path)

