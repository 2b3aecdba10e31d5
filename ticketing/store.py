"""The Redis side of ticketing: read state, run the pure rule, commit it atomically with its event.

Every change follows one pattern: read the ticket and/or window (with their
versions), compute the next state with ``ticketing.model``, and commit it with
``commit.lua``, which applies the writes and appends the event only if the
versions are unchanged. On a conflict (another process got there first) the
change is recomputed from fresh state, so the rule has one implementation and
Redis alone makes it atomic. Issuing uses ``issue.lua`` to number the ticket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hall.config import HallConfig
from hall.errors import DomainError, Forbidden, IllegalTransition, Invalid, NotFound
from hall.events import EventType
from hall.redis_conn import WritePolicy
from ticketing import model, rules
from ticketing.estimate import RECENT_SERVICES, estimated_wait_seconds, mean_service_seconds
from ticketing.keys import HallKeys
from ticketing.model import (
    Channel,
    Ticket,
    TicketStatus,
    WindowState,
    WindowStatus,
)

Clock = Callable[[], float]
SCRIPTS = Path(__file__).parent / "scripts"
STREAM_MAXLEN = 200_000
DAY_KEYS_TTL = 40 * 24 * 3600
MAX_ATTEMPTS = 50
RECENT_CALLS = 20


class Busy(DomainError):
    status = 503
    code = "busy"


class Conflict(Exception):
    """A guarded field changed between read and commit; the caller recomputes."""


def local_day(now: float, cfg: HallConfig) -> str:
    """The hall's business day (local date), which is when numbering restarts."""
    return datetime.fromtimestamp(now, cfg.tz).strftime("%Y%m%d")


@dataclass
class Txn:
    """A guarded set of writes plus one event, sent to commit.lua as one atomic step."""

    keys: HallKeys
    key_list: list[str] = field(default_factory=list)
    guards: list[list[Any]] = field(default_factory=list)
    ops: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key_list.append(self.keys.events)

    def _k(self, key: str) -> int:
        if key not in self.key_list:
            self.key_list.append(key)
        return self.key_list.index(key) + 1

    def guard(self, key: str, field_name: str, expected: str) -> None:
        self.guards.append([self._k(key), field_name, expected])

    def op(self, command: str, key: str, *args: object) -> None:
        self.ops.append([command, self._k(key), *(_arg(a) for a in args)])

    def put_ticket(self, ticket: Ticket, ver: str) -> None:
        key = self.keys.ticket(ticket.id)
        self.guard(key, "ver", ver)
        self.op("HSET", key, "ver", int(ver or 0) + 1, "status", ticket.status.value,
                "json", _dumps(ticket.to_dict()))

    def put_window(self, window: WindowState, ver: str) -> None:
        key = self.keys.window(window.number)
        self.guard(key, "ver", ver)
        self.op("HSET", key, "ver", int(ver or 0) + 1, "json", _dumps(window.to_dict()))


def _arg(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Position:
    ahead: int
    estimated_wait_seconds: float


class TicketStore:
    """Tickets, windows and queues of every hall, kept in one Redis."""

    def __init__(self, redis: Redis, halls: dict[str, HallConfig], clock: Clock) -> None:
        self.redis = redis
        self.halls = halls
        self.clock = clock
        self._commit = redis.register_script((SCRIPTS / "commit.lua").read_text())
        self._issue = redis.register_script((SCRIPTS / "issue.lua").read_text())
        # Set by the app: replica acknowledgement of writes, and who hears committed events.
        self.write_policy = WritePolicy()
        self.observers: list[Callable[[str, EventType, dict[str, Any]], None]] = []

    # ---- lookups ------------------------------------------------------------------

    def hall(self, hall_id: str) -> HallConfig:
        cfg = self.halls.get(hall_id)
        if cfg is None:
            raise NotFound(f"no hall '{hall_id}'", code="unknown_hall")
        return cfg

    def _window_cfg(self, cfg: HallConfig, number: int) -> None:
        if cfg.window(number) is None:
            raise NotFound(f"hall '{cfg.id}' has no window {number}", code="unknown_window")

    async def ticket(self, hall_id: str, ticket_id: str) -> Ticket:
        ticket, _ = await self._read_ticket(HallKeys(hall_id), ticket_id)
        return ticket

    async def window(self, hall_id: str, number: int) -> WindowState:
        self._window_cfg(self.hall(hall_id), number)
        window, _ = await self._read_window(HallKeys(hall_id), number)
        return window

    async def windows(self, hall_id: str) -> list[WindowState]:
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for w in cfg.windows:
                pipe.hget(keys.window(w.number), "json")
            raw = await pipe.execute()
        return [_window_from(w.number, r) for w, r in zip(cfg.windows, raw, strict=True)]

    async def ticket_by_number(self, hall_id: str, number: str) -> Ticket:
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        ticket_id = await self.redis.hget(keys.day_numbers(local_day(self.clock(), cfg)), number)
        if ticket_id is None:
            raise NotFound(f"no ticket {number} today", code="unknown_ticket")
        return await self.ticket(hall_id, _s(ticket_id))

    async def _read_ticket(self, keys: HallKeys, ticket_id: str) -> tuple[Ticket, str]:
        ver, raw = await self.redis.hmget(keys.ticket(ticket_id), ["ver", "json"])
        if raw is None:
            raise NotFound("no such ticket", code="unknown_ticket")
        return Ticket.from_dict(json.loads(raw)), _s(ver)

    async def _read_window(self, keys: HallKeys, number: int) -> tuple[WindowState, str]:
        ver, raw = await self.redis.hmget(keys.window(number), ["ver", "json"])
        return _window_from(number, raw), _s(ver) if ver is not None else ""

    def served_queues(self, cfg: HallConfig, window: WindowState) -> tuple[str, ...]:
        if window.queues_override is not None:
            return window.queues_override
        return cfg.window_queues(window.number)

    # ---- issuing ------------------------------------------------------------------

    async def issue(
        self, hall_id: str, matter_code: str, channel: Channel, *,
        priority_group: str | None = None, appointment: bool = False,
    ) -> tuple[Ticket, Position]:
        cfg = self.hall(hall_id)
        matter = cfg.matter(matter_code)
        if matter is None:
            raise NotFound(f"hall '{hall_id}' has no matter '{matter_code}'", code="unknown_matter")
        if priority_group is not None and priority_group not in cfg.priority_groups:
            raise Invalid(f"unknown priority group '{priority_group}'", code="invalid_field")
        now = self.clock()
        day = local_day(now, cfg)
        ticket = Ticket(
            id=secrets.token_urlsafe(16), hall=hall_id, day=day, queue=matter.queue,
            matter=matter.code, channel=channel, issued_at=now, enqueued_at=now,
            priority_group=priority_group, appointment=appointment,
            history=(model.Step(now, "issued"),),
        )
        key = rules.order_key(now, ticket.has_priority, cfg.rules.priority_head_start_minutes)
        keys = HallKeys(hall_id)
        try:
            serving = cfg.windows_serving(matter.queue)
            number, ahead, _, recent, statuses = await self.write_policy.run(
                self.redis, self._issue,
                keys=[keys.events, keys.day_counters(day), keys.day_numbers(day),
                      keys.day_tickets(day), keys.queue(matter.queue), keys.ticket(ticket.id),
                      keys.service_times(matter.queue), *(keys.window(n) for n in serving)],
                args=[matter.queue, _dumps(ticket.to_dict()), repr(key), repr(now), ticket.id,
                      cfg.rules.max_ticket_per_day_per_queue, STREAM_MAXLEN,
                      EventType.TICKET_ISSUED.value, DAY_KEYS_TTL, RECENT_SERVICES],
            )
        except ResponseError as exc:
            if "SOLD_OUT" in str(exc):
                raise IllegalTransition(
                    f"queue {matter.queue} has issued all its tickets for today",
                    code="sold_out") from None
            raise
        ticket = dataclasses.replace(ticket, number=_s(number))
        self._notify(hall_id, EventType.TICKET_ISSUED, {"ticket": ticket.to_dict()})
        open_now = sum(1 for s in statuses if _s(s) == WindowStatus.OPEN.value)
        return ticket, self._position(cfg, ticket.queue, int(ahead), recent, open_now)

    # ---- position and estimated wait ---------------------------------------------

    async def position(self, hall_id: str, ticket: Ticket) -> Position | None:
        if ticket.status is not TicketStatus.WAITING:
            return None
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        if ticket.target_window is not None:
            rank = await self.redis.zrank(keys.direct(ticket.target_window), ticket.id)
        else:
            rank = await self.redis.zrank(keys.queue(ticket.queue), ticket.id)
        return await self._estimate(cfg, ticket.queue, rank if isinstance(rank, int) else 0)

    async def _estimate(self, cfg: HallConfig, queue: str, ahead: int) -> Position:
        keys = HallKeys(cfg.id)
        serving = cfg.windows_serving(queue)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.service_times(queue), 0, RECENT_SERVICES - 1)
            for n in serving:
                pipe.hget(keys.window(n), "json")
            recent_raw, *windows_raw = await pipe.execute()
        open_now = sum(
            1 for n, raw in zip(serving, windows_raw, strict=True)
            if _window_from(n, raw).status is WindowStatus.OPEN
        )
        return self._position(cfg, queue, ahead, recent_raw, open_now)

    def _position(self, cfg: HallConfig, queue: str, ahead: int, recent_raw: list[Any],
                  open_now: int) -> Position:
        matters = [m.expected_minutes for m in cfg.matters if m.queue == queue] or [10.0]
        service = mean_service_seconds([float(x) for x in recent_raw], sum(matters) / len(matters))
        return Position(ahead, estimated_wait_seconds(ahead, service, open_now))

    # ---- the commit loop ----------------------------------------------------------

    async def commit(self, txn: Txn, event: EventType, data: dict[str, Any]) -> str:
        spec = {"guards": txn.guards, "ops": txn.ops, "maxlen": STREAM_MAXLEN,
                "event": [event.value, repr(self.clock()), _dumps(data)]}
        try:
            event_id = _s(await self.write_policy.run(self.redis, self._commit,
                                                      keys=txn.key_list, args=[_dumps(spec)]))
        except ResponseError as exc:
            if str(exc).startswith("CONFLICT"):
                raise Conflict(str(exc)) from None
            raise
        self._notify(txn.keys.hall, event, data)
        return event_id

    def _notify(self, hall_id: str, event: EventType, data: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(hall_id, event, data)

    async def retrying(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        for n in range(MAX_ATTEMPTS):
            try:
                return await attempt()
            except Conflict:
                await asyncio.sleep(0.001 * min(n, 10) * secrets.randbelow(3))
        raise Busy("the hall is very busy; please try again")

    # ---- window-scoped ticket actions (the clerk's buttons) -----------------------

    async def call_next(self, hall_id: str, number: int, clerk: str | None = None
                        ) -> Ticket | None:
        """Call the next ticket for a window, or None when its queues are empty.

        ``clerk``, when given, must be the clerk logged in at the window; it is checked
        on the same window state the call is committed against.
        """
        cfg = self.hall(hall_id)
        self._window_cfg(cfg, number)
        keys = HallKeys(hall_id)
        configured = cfg.window_queues(number)

        def heads_of(queues: tuple[str, ...], pipe: Any) -> None:
            for q in queues:
                pipe.zrange(keys.queue(q), 0, 0, withscores=True)
            pipe.zrange(keys.direct(number), 0, 0, withscores=True)

        async def attempt() -> Ticket | None:
            # the window and the heads of its usual queues in one round trip
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hmget(keys.window(number), ["ver", "json"])
                heads_of(configured, pipe)
                (ver, raw_window), *raw = await pipe.execute()
            window = _window_from(number, raw_window)
            wver = _s(ver) if ver is not None else ""
            _require_clerk(window, clerk)
            model.require_free_window(window)
            served = self.served_queues(cfg, window)
            if served != configured:  # reassigned (tide lending): read its own queues
                async with self.redis.pipeline(transaction=False) as pipe:
                    heads_of(served, pipe)
                    raw = await pipe.execute()
            heads = {
                q: rules.Head(q, _s(r[0][0]), float(r[0][1]))
                for q, r in zip([*served, rules.DIRECT], raw, strict=True) if r
            }
            head = rules.select_next(served, heads, cfg.rules.queue_step_minutes)
            if head is None:
                return None
            ticket, tver = await self._read_ticket(keys, head.ticket_id)
            if ticket.status is not TicketStatus.WAITING:
                # A stale queue entry (should not happen); drop it and look again.
                await self.redis.zrem(keys.queue(head.queue), head.ticket_id)
                raise Conflict(head.ticket_id)
            return await self._commit_call(cfg, keys, ticket, tver, window, wver)

        result: Ticket | None = await self.retrying(attempt)
        return result

    async def call_number(self, hall_id: str, number: int, ticket_number: str) -> Ticket:
        """Call a given waiting number out of order (the clerk picks it)."""
        cfg = self.hall(hall_id)
        self._window_cfg(cfg, number)
        keys = HallKeys(hall_id)
        target = await self.ticket_by_number(hall_id, ticket_number)

        async def attempt() -> Ticket:
            window, wver = await self._read_window(keys, number)
            ticket, tver = await self._read_ticket(keys, target.id)
            return await self._commit_call(cfg, keys, ticket, tver, window, wver)

        result: Ticket = await self.retrying(attempt)
        return result

    async def _commit_call(
        self, cfg: HallConfig, keys: HallKeys, ticket: Ticket, tver: str,
        window: WindowState, wver: str,
    ) -> Ticket:
        now = self.clock()
        called, new_window, event = model.call(ticket, window, now)
        txn = Txn(keys)
        txn.put_ticket(called, tver)
        txn.put_window(new_window, wver)
        txn.op("ZREM", keys.queue(ticket.queue), ticket.id)
        if ticket.target_window is not None:
            txn.op("ZREM", keys.direct(ticket.target_window), ticket.id)
        self._remember_call(txn, keys, called, cfg)
        await self.commit(txn, event, {"ticket": called.to_dict(),
                                            "window": new_window.to_dict()})
        return called

    def _remember_call(self, txn: Txn, keys: HallKeys, ticket: Ticket, cfg: HallConfig) -> None:
        window_cfg = cfg.window(ticket.window or 0)
        entry = {"number": ticket.number, "window": ticket.window, "calls": ticket.calls,
                 "at": self.clock(),
                 "window_name_zh": window_cfg.name_zh if window_cfg else "",
                 "window_name_en": window_cfg.name_en if window_cfg else ""}
        txn.op("LPUSH", keys.recent_calls, _dumps(entry))
        txn.op("LTRIM", keys.recent_calls, 0, RECENT_CALLS - 1)

    async def _current_action(
        self, hall_id: str, number: int,
        decide: Callable[[Ticket, WindowState, float], tuple[Ticket, WindowState, EventType]],
        extra: Callable[[Txn, HallKeys, Ticket, Ticket], None] | None = None,
        clerk: str | None = None,
    ) -> Ticket:
        cfg = self.hall(hall_id)
        self._window_cfg(cfg, number)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            window, wver = await self._read_window(keys, number)
            _require_clerk(window, clerk)
            if window.current is None:
                raise IllegalTransition(f"window {number} has no ticket", code="no_current_ticket")
            ticket, tver = await self._read_ticket(keys, window.current)
            new_ticket, new_window, event = decide(ticket, window, self.clock())
            txn = Txn(keys)
            txn.put_ticket(new_ticket, tver)
            txn.put_window(new_window, wver)
            if extra:
                extra(txn, keys, ticket, new_ticket)
            if event is EventType.TICKET_RECALLED:
                self._remember_call(txn, keys, new_ticket, cfg)
            await self.commit(txn, event, {"ticket": new_ticket.to_dict(),
                                                "window": new_window.to_dict()})
            return new_ticket

        result: Ticket = await self.retrying(attempt)
        return result

    async def recall(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(
            hall_id, number, lambda t, w, now: (model.recall(t, w, now), w,
                                                EventType.TICKET_RECALLED), clerk=clerk)

    async def start(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(
            hall_id, number, lambda t, w, now: (model.start(t, w, now), w,
                                                EventType.TICKET_SERVING), clerk=clerk)

    async def finish(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        def record_service(txn: Txn, keys: HallKeys, old: Ticket, new: Ticket) -> None:
            if new.done_at is not None and new.serving_at is not None:
                txn.op("LPUSH", keys.service_times(new.queue), new.done_at - new.serving_at)
                txn.op("LTRIM", keys.service_times(new.queue), 0, RECENT_SERVICES - 1)
            if new.window is not None:
                txn.op("SET", keys.last_done(new.window), new.id)  # the rating pad's ticket

        return await self._current_action(
            hall_id, number, lambda t, w, now: (*model.finish(t, w, now), EventType.TICKET_DONE),
            record_service, clerk=clerk)

    async def no_show(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(
            hall_id, number,
            lambda t, w, now: (*model.no_show(t, w, now), EventType.TICKET_NO_SHOW),
            clerk=clerk)

    async def transfer(
        self, hall_id: str, number: int, *, queue: str | None, to_window: int | None, note: str
    ) -> Ticket:
        cfg = self.hall(hall_id)
        if (queue is None) == (to_window is None):
            raise Invalid("give exactly one of 'queue' or 'window' to transfer to",
                          code="invalid_field")
        if to_window is not None:
            self._window_cfg(cfg, to_window)
        if queue is not None and cfg.queue(queue) is None:
            raise NotFound(f"hall '{hall_id}' has no queue '{queue}'", code="unknown_queue")
        head_start = cfg.rules.priority_head_start_minutes

        def decide(t: Ticket, w: WindowState, now: float) -> tuple[Ticket, WindowState, EventType]:
            moved, window = model.transfer(t, w, now, queue=queue or t.queue,
                                           to_window=to_window, note=note)
            return moved, window, EventType.TICKET_TRANSFERRED

        def requeue(txn: Txn, keys: HallKeys, old: Ticket, new: Ticket) -> None:
            key = rules.order_key(new.enqueued_at, True, head_start)
            target = keys.direct(to_window) if to_window is not None else keys.queue(new.queue)
            txn.op("ZADD", target, key, new.id)

        return await self._current_action(hall_id, number, decide, requeue)

    # ---- ticket-scoped actions (citizen or staff) ---------------------------------

    async def rejoin(self, hall_id: str, ticket_id: str) -> Ticket:
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            ticket, tver = await self._read_ticket(keys, ticket_id)
            now = self.clock()
            back = model.rejoin(ticket, now, cfg.rules.rejoin_minutes, cfg.rules.max_rejoins)
            places = cfg.rules.rejoin_places_back
            heads = await self.redis.zrange(keys.queue(ticket.queue), 0, places, withscores=True)
            key = rules.rejoin_key([float(entry[1]) for entry in heads], places, now)
            txn = Txn(keys)
            txn.put_ticket(back, tver)
            txn.op("ZADD", keys.queue(ticket.queue), key, ticket.id)
            await self.commit(txn, EventType.TICKET_REJOINED, {"ticket": back.to_dict()})
            return back

        result: Ticket = await self.retrying(attempt)
        return result

    async def cancel(self, hall_id: str, ticket_id: str, by: str | None) -> Ticket:
        self.hall(hall_id)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            ticket, tver = await self._read_ticket(keys, ticket_id)
            cancelled = model.cancel(ticket, self.clock(), by)
            txn = Txn(keys)
            txn.put_ticket(cancelled, tver)
            txn.op("ZREM", keys.queue(ticket.queue), ticket.id)
            if ticket.target_window is not None:
                txn.op("ZREM", keys.direct(ticket.target_window), ticket.id)
            await self.commit(txn, EventType.TICKET_CANCELLED,
                                   {"ticket": cancelled.to_dict()})
            return cancelled

        result: Ticket = await self.retrying(attempt)
        return result

    # ---- window actions -----------------------------------------------------------

    async def change_window(
        self, hall_id: str, number: int,
        change: Callable[[WindowState, float], WindowState], reason: str = "",
    ) -> WindowState:
        """Apply a pure window transition (login, pause, …) atomically, with its event."""
        cfg = self.hall(hall_id)
        self._window_cfg(cfg, number)
        keys = HallKeys(hall_id)

        async def attempt() -> WindowState:
            window, wver = await self._read_window(keys, number)
            new_window = change(window, self.clock())
            txn = Txn(keys)
            txn.put_window(new_window, wver)
            await self.commit(txn, EventType.WINDOW_CHANGED,
                                   {"window": new_window.to_dict(), "reason": reason})
            return new_window

        result: WindowState = await self.retrying(attempt)
        return result

    # ---- snapshot for screens -----------------------------------------------------

    async def snapshot(self, hall_id: str) -> dict[str, Any]:
        """Hall state and the id of the last event it includes, read in one transaction."""
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xrevrange(keys.events, count=1)
            for w in cfg.windows:
                pipe.hget(keys.window(w.number), "json")
            for q in cfg.queues:
                pipe.zcard(keys.queue(q.letter))
            pipe.lrange(keys.recent_calls, 0, RECENT_CALLS - 1)
            raw = await pipe.execute()
        last, rest = raw[0], raw[1:]
        windows_raw, rest = rest[: len(cfg.windows)], rest[len(cfg.windows):]
        counts, calls = rest[: len(cfg.queues)], rest[-1]
        return {
            "hall": hall_id,
            "last_event_id": _s(last[0][0]) if last else "0-0",
            "windows": [_window_from(w.number, r).to_dict()
                        for w, r in zip(cfg.windows, windows_raw, strict=True)],
            "waiting": {q.letter: int(c) for q, c in zip(cfg.queues, counts, strict=True)},
            "recent_calls": [json.loads(c) for c in calls],
        }


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _require_clerk(window: WindowState, clerk: str | None) -> None:
    """Refuse a clerk who is not the one logged in at the window (None: not checked)."""
    if clerk is not None and window.clerk != clerk:
        raise Forbidden(f"you are not logged in at window {window.number}",
                        code="not_your_window")


def _window_from(number: int, raw: Any) -> WindowState:
    if raw is None:
        return WindowState(number)
    return WindowState.from_dict(json.loads(raw))
