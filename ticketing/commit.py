"""The one atomic step: guarded writes plus one event, applied together by ``commit.lua``.

Every change of state in a hall (tickets, windows, ratings, cases, tide) is built as a
``Txn`` (version guards, writes, one event) and sent by ``Committer.commit``: the script
checks the guards, applies the writes and appends the event to the hall's stream, or
changes nothing and raises ``Conflict``. ``retrying`` reruns an attempt (read fresh
state, recompute, commit) until it commits, so every rule keeps one implementation and
Redis alone makes it atomic. Nothing here knows what a ticket is.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hall.audit_store import APPEND_LUA, AuditTrail, mark_recorded
from hall.errors import DomainError
from hall.events import EventType
from hall.redis_conn import WritePolicy
from hall.text import as_str
from ticketing.audit_entry import entry_for
from ticketing.keys import HallKeys

Clock = Callable[[], float]
Observer = Callable[[str, EventType, dict[str, Any]], None]
T = TypeVar("T")

SCRIPTS = Path(__file__).parent / "scripts"
STREAM_MAXLEN = 200_000  # approximate length the hall's event stream is trimmed to
MAX_ATTEMPTS = 50
DONE_SECONDS = 600  # how long a step remembers it was applied (a resend comes within seconds)


class Busy(DomainError):
    """So many concurrent changes that an attempt never committed; the client retries."""

    status = 503
    code = "busy"


class Conflict(Exception):
    """A guarded field changed between read and commit; the caller recomputes."""



def dumps(data: Any) -> str:
    """Compact JSON, as records and events are stored."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _arg(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class Txn:
    """A guarded set of writes plus one event, sent to commit.lua as one atomic step.

    ``guard`` makes the step conditional on a hash field still holding a value ("" for
    absent); ``op`` queues a write (HSET, ZADD, LPUSH … as commit.lua allows);
    ``put_versioned`` does both for a record hash carrying a ``ver`` field.
    """

    keys: HallKeys
    key_list: list[str] = field(default_factory=list)
    guards: list[list[Any]] = field(default_factory=list)
    ops: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key_list.append(self.keys.events)

    def key_index(self, key: str) -> int:
        """The script's index (1-based) of ``key``, added to the step's keys if new."""
        return self._k(key)

    def _k(self, key: str) -> int:
        if key not in self.key_list:
            self.key_list.append(key)
        return self.key_list.index(key) + 1

    def guard(self, key: str, field_name: str, expected: str) -> None:
        self.guards.append([self._k(key), field_name, expected])

    def op(self, command: str, key: str, *args: object) -> None:
        self.ops.append([command, self._k(key), *(_arg(a) for a in args)])

    def put_versioned(self, key: str, ver: str, *field_values: object) -> None:
        """Write a record hash if its ``ver`` is still ``ver`` (""/absent: a new record)."""
        self.guard(key, "ver", ver)
        self.op("HSET", key, "ver", int(ver or 0) + 1, *field_values)


class Committer:
    """Sends ``Txn``s through commit.lua on one connection and tells observers what happened.

    ``write_policy`` (replica acknowledgement) and ``observers`` (metrics, logs) are set
    by the composition root.
    """

    def __init__(self, redis: Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self._script = redis.register_script(
            APPEND_LUA + (SCRIPTS / "commit.lua").read_text())
        self.write_policy = WritePolicy()
        self.observers: list[Observer] = []
        self.audit: AuditTrail | None = None  # set by the app: each commit carries its entry

    async def commit(self, txn: Txn, event: EventType, data: dict[str, Any]) -> str:
        """Apply ``txn`` and append its event atomically; the event's stream id, or Conflict."""
        event_id = await self.send(txn, self.spec(txn, event, data))
        mark_recorded()
        self.notify(txn.keys.hall, event, data)
        return event_id

    def spec(self, txn: Txn, event: EventType, data: dict[str, Any]) -> str:
        """The script's argument for ``txn``: guards, writes, event, audit entry, and a
        fresh step id (``done``), under which the script keeps the event id for
        ``DONE_SECONDS``: the client library resending the same call after a broken link
        (the step applied, the answer lost) gets that event id back, not a conflict."""
        spec: dict[str, Any] = {"guards": txn.guards, "ops": txn.ops, "maxlen": STREAM_MAXLEN,
                                "event": [event.value, repr(self.clock()), dumps(data)]}
        if self.audit is not None and self.audit.enabled:
            entry = entry_for(event, data, self.clock())
            keys, args = self.audit.spec(txn.keys.hall, entry)
            spec["audit"] = [txn.key_index(k) for k in keys] + args
        done = f"hall:{{{txn.keys.hall}}}:step:{secrets.token_hex(12)}"
        spec["done"] = [txn.key_index(done), str(DONE_SECONDS)]
        return dumps(spec)

    async def send(self, txn: Txn, spec: str) -> str:
        """Run commit.lua with ``spec`` (from ``spec``): the event id, or Conflict."""
        try:
            return as_str(await self.write_policy.run(
                self.redis, self._script, keys=txn.key_list, args=[spec]))
        except ResponseError as exc:
            if str(exc).startswith("CONFLICT"):
                raise Conflict(str(exc)) from None
            raise

    def notify(self, hall_id: str, event: EventType, data: dict[str, Any]) -> None:
        """Tell in-process observers about an event already committed."""
        for observer in self.observers:
            observer(hall_id, event, data)


async def retrying(attempt: Callable[[], Awaitable[T]], attempts: int = MAX_ATTEMPTS) -> T:
    """Run ``attempt`` until it does not raise Conflict; Busy after ``attempts`` tries."""
    for n in range(attempts):
        try:
            return await attempt()
        except Conflict:
            await asyncio.sleep(0.001 * min(n, 10) * secrets.randbelow(3))
    raise Busy("the hall is very busy; please try again")
