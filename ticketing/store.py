"""Issuing and actions on tickets and windows: read, run the pure rule, commit with the event.

Every change follows one pattern: read the ticket and/or window (with their
versions, ``ticketing.queries``), compute the next state with ``ticketing.model``,
and commit it through ``ticketing.commit``, which applies the writes and appends the
event only if the versions are unchanged. On a conflict (another process got there
first) the change is recomputed from fresh state, so the rule has one implementation
and Redis alone makes it atomic. Issuing uses ``issue.lua`` to number the ticket.
Keys are those of ``ticketing.keys``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hall.audit_store import APPEND_LUA, AuditTrail, mark_recorded
from hall.auth.tokens import DeviceProof, DeviceRevoked
from hall.autopipeline import run_script
from hall.calendar import local_day
from hall.config import HallConfig
from hall.errors import Forbidden, IllegalTransition, Invalid, NotFound
from hall.events import EventType
from hall.redis_conn import WritePolicy
from hall.services import Key
from hall.text import as_str
from ticketing import booking_rules, estimate, model, rules
from ticketing.audit_entry import issue_rest
from ticketing.commit import (
    SCRIPTS,
    STREAM_MAXLEN,
    Busy,
    Clock,
    Committer,
    Conflict,
    Observer,
    Txn,
    dumps,
    retrying,
)
from ticketing.estimate import RECENT_SERVICES, Position
from ticketing.keys import HallKeys
from ticketing.model import (
    Channel,
    Ticket,
    TicketStatus,
    Transition,
    WindowState,
)
from ticketing.queries import RECENT_CALLS, TicketQueries
from ticketing.records import put_ticket, put_window, window_from
from ticketing.walk_in import require_open

DAY_KEYS_TTL = 40 * 24 * 3600
NO_AUDIT = [b"", b""]  # issue.lua's audit arguments when the trail is off
NO_DEVICE = [b"", b""]  # … and its device arguments without a device to check
MAX_PLANS = 5  # issue attempts whose windows changed between the plan and the script
PLANS_KEPT = 50_000  # (hall, queue) plans a process keeps (cleared when full)


def _plan_args(plan: estimate.Plan | None) -> list[str]:
    """``issue.lua``'s ARGV[16..20] (any values when there is no plan: it is not used)."""
    if plan is None:
        return ["", "0", "0", "0", "1"]
    return [plan.reason or "", str(plan.idle), repr(plan.residual), repr(plan.service),
            repr(plan.divisor)]


class TicketStore(TicketQueries):
    """Tickets, windows and queues of every hall, kept in one Redis: reads, issuing, actions."""

    def __init__(self, redis: Redis, halls: dict[str, HallConfig], clock: Clock) -> None:
        super().__init__(redis, halls, clock)
        self.committer = Committer(redis, clock)
        self._issue = redis.register_script(APPEND_LUA + (SCRIPTS / "issue.lua").read_text())
        # Walk-ins only in opening hours (hall/calendar.py); the app turns it on, a store
        # built directly (tests of other rules, the simulator) leaves it off.
        self.hours_enforced = False
        # the estimate's plan per (hall, queue), with the config and the digest of the state
        # it was made from (``issue``)
        self._plans: dict[tuple[str, str], tuple[HallConfig, str, estimate.Plan]] = {}

    @property
    def write_policy(self) -> WritePolicy:
        """Replica acknowledgement of writes (set by the app)."""
        return self.committer.write_policy

    @write_policy.setter
    def write_policy(self, policy: WritePolicy) -> None:
        self.committer.write_policy = policy

    @property
    def observers(self) -> list[Observer]:
        """Who hears committed events in this process (metrics, logs)."""
        return self.committer.observers

    @property
    def audit(self) -> AuditTrail | None:
        """The audit trail every commit and issue extends (set by the app; None: off)."""
        return self.committer.audit

    @audit.setter
    def audit(self, trail: AuditTrail | None) -> None:
        self.committer.audit = trail

    def _audit_issue(self, hall_id: str, ticket: Ticket) -> tuple[list[str], list[bytes]]:
        """The audit keys and arguments of ``issue.lua`` (``[b""]``: the trail is off)."""
        trail = self.committer.audit
        if trail is None or not trail.enabled:
            return [], NO_AUDIT
        return trail.chain_keys(hall_id, ticket.day), [trail.ttl_arg, issue_rest(
            ticket.queue, ticket.matter, ticket.channel.value, ticket.priority_group,
            ticket.appointment)]

    # ---- issuing ------------------------------------------------------------------

    async def issue(
        self, hall_id: str, matter_code: str, channel: Channel, *,
        priority_group: str | None = None, appointment: bool = False,
        slot_start: float | None = None, device: DeviceProof | None = None,
    ) -> tuple[Ticket, Position]:
        """Number and queue a ticket with the wait quoted to it (kept on its record, field
        ``estimate.QUOTE_FIELD``, for tide.quotes). A walk-in is refused outside the hall's
        opening hours (``hall_closed``, naming the next opening) when ``hours_enforced``; a
        checked-in appointment (``slot_start`` given) waits under its slot time
        (booking_rules). With ``device``, the issue happens only if that device's record is
        unchanged (else ``DeviceRevoked``, nothing changed: hall.auth.tokens).

        One script trip when this process's plan of the queue's estimate
        (``estimate.Plan``) was made from the windows and service times the script reads
        (it compares their digest); else the script answers with that state, changing
        nothing, and the issue runs again on a plan made from it."""
        cfg = self.hall(hall_id)
        matter = cfg.matter(matter_code)
        if matter is None:
            raise NotFound(f"hall '{hall_id}' has no matter '{matter_code}'", code="unknown_matter")
        if priority_group is not None and priority_group not in cfg.priority_groups:
            raise Invalid(f"unknown priority group '{priority_group}'", code="invalid_field")
        now = self.clock()
        if self.hours_enforced and slot_start is None:
            require_open(cfg, now)
        day = local_day(now, cfg.tz)
        ticket = Ticket(
            id=secrets.token_urlsafe(16), hall=hall_id, day=day, queue=matter.queue,
            matter=matter.code, channel=channel, issued_at=now, enqueued_at=now,
            priority_group=priority_group, appointment=appointment,
            history=(model.Step(now, "issued"),),
        )
        key = rules.order_key(now, ticket.has_priority, cfg.rules.priority_head_start_minutes)
        if slot_start is not None:
            key = booking_rules.checked_in_key(slot_start, rules.order_key(
                now, priority_group is not None, cfg.rules.priority_head_start_minutes))
        keys = HallKeys(hall_id)
        audit_keys, audit_args = self._audit_issue(hall_id, ticket)
        device_keys, device_args = ([device.key], [device.principal, device.expires]) \
            if device is not None else ([], NO_DEVICE)
        run_keys = [keys.events, keys.day_counters(day), keys.day_numbers(day),
                    keys.day_tickets(day), keys.queue(matter.queue), keys.ticket(ticket.id),
                    keys.service_times(matter.queue), *device_keys, *audit_keys,
                    *(keys.window(w.number) for w in cfg.windows)]
        fixed = [matter.queue, dumps(ticket.to_dict()), repr(key), repr(now), ticket.id,
                 cfg.rules.max_ticket_per_day_per_queue, STREAM_MAXLEN,
                 EventType.TICKET_ISSUED.value, DAY_KEYS_TTL, RECENT_SERVICES,
                 *audit_args, *device_args]
        made = self._plans.get((hall_id, matter.queue))
        seen, plan = (made[1], made[2]) if made is not None and made[0] is cfg else ("", None)
        for attempt in range(MAX_PLANS):
            # The last attempt issues on the plan it has, made from the state read one trip
            # ago: while clerks keep changing windows, a citizen's ticket must not fail for
            # want of a quote on the very latest state (the quote stored is still the one
            # shown).
            last = attempt == MAX_PLANS - 1 and plan is not None
            args = [*fixed, "*" if last else seen, *_plan_args(plan), estimate.QUOTE_FIELD]
            try:
                # with no plan yet the script only reads (no replica to wait for)
                reply = await (self.write_policy.run(self.redis, self._issue, run_keys, args)
                               if plan is not None
                               else run_script(self.redis, self._issue, run_keys, args))
            except ResponseError as exc:
                if "SOLD_OUT" in str(exc):
                    raise IllegalTransition(
                        f"queue {matter.queue} has issued all its tickets for today",
                        code="sold_out") from None
                if "DEVICE_GONE" in str(exc):
                    raise DeviceRevoked("this device token is no longer valid") from None
                raise
            if as_str(reply[0]):  # issued
                break
            # the plan was made from other windows or service times (or none yet): make it
            # from the state the script read, and issue on that
            seen, raw_recent, raw_windows = as_str(reply[1]), reply[2], reply[3]
            windows = [window_from(w.number, raw or None)
                       for w, raw in zip(cfg.windows, raw_windows, strict=True)]
            plan = estimate.plan(cfg, matter.queue, [float(x) for x in raw_recent], windows)
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            self._plans[(hall_id, matter.queue)] = (cfg, seen, plan)
        else:
            raise Busy("the hall is very busy; please try again")
        number, ahead, _ = reply
        if audit_keys:
            mark_recorded()
        ticket = dataclasses.replace(ticket, number=as_str(number))
        self.committer.notify(hall_id, EventType.TICKET_ISSUED, {"ticket": ticket.to_dict()})
        assert plan is not None  # an issue only runs on a plan whose state it saw
        return ticket, plan.position(int(ahead))

    # ---- the one way a transition is committed -----------------------------------

    async def _commit(self, keys: HallKeys, tr: Transition[Any, Any], tver: str, wver: str,
                      *, extra: Callable[[Txn], None] | None = None, reason: str = "") -> None:
        """Write a transition's ticket and/or window (version-guarded) with its event.

        ``extra`` adds the index writes the transition implies (queues, recent calls …).
        """
        txn = Txn(keys)
        data: dict[str, Any] = {}
        if tr.ticket is not None:
            put_ticket(txn, tr.ticket, tver)
            data["ticket"] = tr.ticket.to_dict()
        if tr.window is not None:
            put_window(txn, tr.window, wver)
            data["window"] = tr.window.to_dict()
        if tr.event is EventType.WINDOW_CHANGED:
            data["reason"] = reason
        if extra is not None:
            extra(txn)
        await self.committer.commit(txn, tr.event, data)

    # ---- window-scoped ticket actions (the clerk's buttons) -----------------------

    async def call_next(self, hall_id: str, number: int, clerk: str | None = None
                        ) -> Ticket | None:
        """Call the next ticket for a window, or None when its queues are empty.

        ``clerk``, when given, must be the clerk logged in at the window; it is checked
        on the same window state the call is committed against.
        """
        cfg = self.hall(hall_id)
        self.require_window(cfg, number)
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
            window = window_from(number, raw_window)
            wver = as_str(ver) if ver is not None else ""
            _require_clerk(window, clerk)
            model.require_free_window(window)
            served = rules.served_queues(cfg, window)
            if served != configured:  # reassigned (tide lending): read its own queues
                async with self.redis.pipeline(transaction=False) as pipe:
                    heads_of(served, pipe)
                    raw = await pipe.execute()
            heads = {
                q: rules.Head(q, as_str(r[0][0]), float(r[0][1]))
                for q, r in zip([*served, rules.DIRECT], raw, strict=True) if r
            }
            head = rules.select_next(served, heads, cfg.rules.queue_step_minutes)
            if head is None:
                return None
            try:
                ticket, tver = await self.read_ticket(keys, head.ticket_id)
            except NotFound:  # a ticket left waiting on a day whose records expired
                ticket, tver = None, ""
            if ticket is None or ticket.status is not TicketStatus.WAITING:
                # A stale queue entry; drop it and look again.
                await self.redis.zrem(keys.queue(head.queue), head.ticket_id)
                await self.redis.zrem(keys.direct(number), head.ticket_id)
                raise Conflict(head.ticket_id)
            return await self._commit_call(cfg, keys, ticket, tver, window, wver)

        return await retrying(attempt)

    async def call_number(self, hall_id: str, number: int, ticket_number: str,
                          clerk: str | None = None) -> Ticket:
        """Call a given waiting number out of order (the clerk picks it).

        Only a ticket this window could call next is reachable: one of the queues it
        serves now, or sent to this window (else ``not_served_here``).
        """
        cfg = self.hall(hall_id)
        self.require_window(cfg, number)
        keys = HallKeys(hall_id)
        target = await self.ticket_by_number(hall_id, ticket_number)

        async def attempt() -> Ticket:
            window, wver = await self.read_window(keys, number)
            _require_clerk(window, clerk)
            ticket, tver = await self.read_ticket(keys, target.id)
            model.require_free_window(window)
            rules.require_reachable(cfg, window, ticket)
            return await self._commit_call(cfg, keys, ticket, tver, window, wver)

        return await retrying(attempt)

    async def _commit_call(
        self, cfg: HallConfig, keys: HallKeys, ticket: Ticket, tver: str,
        window: WindowState, wver: str,
    ) -> Ticket:
        tr = model.call(ticket, window, self.clock())

        def dequeue(txn: Txn) -> None:
            txn.op("ZREM", keys.queue(ticket.queue), ticket.id)
            if ticket.target_window is not None:
                txn.op("ZREM", keys.direct(ticket.target_window), ticket.id)
            self._remember_call(txn, keys, tr.ticket, cfg)

        await self._commit(keys, tr, tver, wver, extra=dequeue)
        return tr.ticket

    def _remember_call(self, txn: Txn, keys: HallKeys, ticket: Ticket, cfg: HallConfig) -> None:
        window_cfg = cfg.window(ticket.window or 0)
        entry = {"number": ticket.number, "window": ticket.window, "calls": ticket.calls,
                 "at": self.clock(),
                 "window_name_zh": window_cfg.name_zh if window_cfg else "",
                 "window_name_en": window_cfg.name_en if window_cfg else ""}
        txn.op("LPUSH", keys.recent_calls, dumps(entry))
        txn.op("LTRIM", keys.recent_calls, 0, RECENT_CALLS - 1)

    async def _current_action(
        self, hall_id: str, number: int,
        decide: Callable[[Ticket, WindowState, float], Transition[Ticket, WindowState]],
        extra: Callable[[Txn, HallKeys, Ticket], None] | None = None,
        clerk: str | None = None,
        check: Callable[[Ticket, WindowState], Awaitable[None]] | None = None,
    ) -> Ticket:
        """Apply ``decide`` to a window's current ticket (clerk checked on the same state)."""
        cfg = self.hall(hall_id)
        self.require_window(cfg, number)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            window, wver = await self.read_window(keys, number)
            _require_clerk(window, clerk)
            if window.current is None:
                raise IllegalTransition(f"window {number} has no ticket", code="no_current_ticket")
            ticket, tver = await self.read_ticket(keys, window.current)
            if check is not None:
                await check(ticket, window)
            tr = decide(ticket, window, self.clock())

            def writes(txn: Txn) -> None:
                if extra is not None:
                    extra(txn, keys, tr.ticket)
                if tr.event is EventType.TICKET_RECALLED:
                    self._remember_call(txn, keys, tr.ticket, cfg)

            await self._commit(keys, tr, tver, wver, extra=writes)
            return tr.ticket

        return await retrying(attempt)

    async def recall(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(hall_id, number, model.recall, clerk=clerk)

    async def start(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(hall_id, number, model.start, clerk=clerk)

    async def finish(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        def record_service(txn: Txn, keys: HallKeys, new: Ticket) -> None:
            if new.done_at is not None and new.serving_at is not None:
                txn.op("LPUSH", keys.service_times(new.queue), new.done_at - new.serving_at)
                txn.op("LTRIM", keys.service_times(new.queue), 0, RECENT_SERVICES - 1)
            if new.window is not None:
                txn.op("SET", keys.last_done(new.window), new.id)  # the rating pad's ticket

        return await self._current_action(hall_id, number, model.finish, record_service,
                                          clerk=clerk)

    async def no_show(self, hall_id: str, number: int, clerk: str | None = None) -> Ticket:
        return await self._current_action(hall_id, number, model.no_show, clerk=clerk)

    async def transfer(
        self, hall_id: str, number: int, *, queue: str | None, to_window: int | None, note: str,
        clerk: str | None = None,
    ) -> Ticket:
        """Send a window's current ticket to a queue or to an open window, keeping its history."""
        cfg = self.hall(hall_id)
        if (queue is None) == (to_window is None):
            raise Invalid("give exactly one of 'queue' or 'window' to transfer to",
                          code="invalid_field")
        if to_window is not None:
            self.require_window(cfg, to_window)
        if queue is not None and cfg.queue(queue) is None:
            raise NotFound(f"hall '{hall_id}' has no queue '{queue}'", code="unknown_queue")
        head_start = cfg.rules.priority_head_start_minutes
        keys = HallKeys(hall_id)

        async def target_open(ticket: Ticket, window: WindowState) -> None:
            if to_window is not None and to_window != window.number:
                target, _ = await self.read_window(keys, to_window)
                model.require_transfer_target(target)

        def decide(t: Ticket, w: WindowState, now: float) -> Transition[Ticket, WindowState]:
            return model.transfer(t, w, now, queue=queue or t.queue, to_window=to_window,
                                  note=note)

        def requeue(txn: Txn, keys: HallKeys, new: Ticket) -> None:
            key = rules.order_key(new.enqueued_at, True, head_start)
            target = keys.direct(to_window) if to_window is not None else keys.queue(new.queue)
            txn.op("ZADD", target, key, new.id)

        return await self._current_action(hall_id, number, decide, requeue, clerk=clerk,
                                          check=target_open)

    # ---- ticket-scoped actions (citizen or staff) ---------------------------------

    async def rejoin(self, hall_id: str, ticket_id: str) -> Ticket:
        """A no-show back in time waits again, a few places behind the head of its queue."""
        cfg = self.hall(hall_id)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            ticket, tver = await self.read_ticket(keys, ticket_id)
            now = self.clock()
            tr = model.rejoin(ticket, now, cfg.rules.rejoin_minutes, cfg.rules.max_rejoins)
            places = cfg.rules.rejoin_places_back
            heads = await self.redis.zrange(keys.queue(ticket.queue), 0, places, withscores=True)
            key = rules.rejoin_key([float(entry[1]) for entry in heads], places, now)
            await self._commit(keys, tr, tver, "",
                               extra=lambda txn: txn.op("ZADD", keys.queue(ticket.queue), key,
                                                        ticket.id))
            return tr.ticket

        return await retrying(attempt)

    async def cancel(self, hall_id: str, ticket_id: str, by: str | None) -> Ticket:
        """Give up a waiting or missed ticket (``by``: the staff id, None for the citizen)."""
        self.hall(hall_id)
        keys = HallKeys(hall_id)

        async def attempt() -> Ticket:
            ticket, tver = await self.read_ticket(keys, ticket_id)
            tr = model.cancel(ticket, self.clock(), by)

            def dequeue(txn: Txn) -> None:
                txn.op("ZREM", keys.queue(ticket.queue), ticket.id)
                if ticket.target_window is not None:
                    txn.op("ZREM", keys.direct(ticket.target_window), ticket.id)

            await self._commit(keys, tr, tver, "", extra=dequeue)
            return tr.ticket

        return await retrying(attempt)

    # ---- window actions -----------------------------------------------------------

    async def change_window(
        self, hall_id: str, number: int,
        change: Callable[[WindowState, float], Transition[None, WindowState]], reason: str = "",
        clerk: str | None = None,
    ) -> WindowState:
        """Apply a pure window transition (pause, logout, …) atomically, with its event.

        ``clerk``, when given, must be the clerk logged in at the window: checked on the
        window state the change is committed against (not a read before it).
        """
        cfg = self.hall(hall_id)
        self.require_window(cfg, number)
        keys = HallKeys(hall_id)

        async def attempt() -> WindowState:
            window, wver = await self.read_window(keys, number)
            _require_clerk(window, clerk)
            tr = change(window, self.clock())
            await self._commit(keys, tr, "", wver, reason=reason)
            return tr.window

        return await retrying(attempt)

    async def login_window(self, hall_id: str, number: int, clerk: str) -> WindowState:
        """A clerk takes a window; refused (409 ``clerk_busy``) while they hold another.

        Every window of the hall is read with its version and the commit is guarded by
        all of them, so two logins of one clerk at two windows cannot both succeed.
        """
        cfg = self.hall(hall_id)
        self.require_window(cfg, number)
        keys = HallKeys(hall_id)
        numbers = [w.number for w in cfg.windows]

        async def attempt() -> WindowState:
            async with self.redis.pipeline(transaction=False) as pipe:
                for n in numbers:
                    pipe.hmget(keys.window(n), ["ver", "json"])
                rows = await pipe.execute()
            seen = {n: (window_from(n, raw), as_str(ver) if ver is not None else "")
                    for n, (ver, raw) in zip(numbers, rows, strict=True)}
            elsewhere = sorted(n for n, (w, _) in seen.items() if n != number and w.clerk == clerk)
            if elsewhere:
                raise IllegalTransition(
                    f"you are logged in at window {elsewhere[0]}; log out there first",
                    code="clerk_busy")
            window, wver = seen[number]
            tr = model.login(window, clerk, self.clock())

            def others_unchanged(txn: Txn) -> None:
                for n, (_, ver) in seen.items():
                    if n != number:
                        txn.guard(keys.window(n), "ver", ver)

            await self._commit(keys, tr, "", wver, extra=others_unchanged, reason="login")
            return tr.window

        return await retrying(attempt)


def _require_clerk(window: WindowState, clerk: str | None) -> None:
    """Refuse a clerk who is not the one logged in at the window (None: not checked)."""
    if clerk is not None and window.clerk != clerk:
        raise Forbidden(f"you are not logged in at window {window.number}",
                        code="not_your_window")


STORE: Key[TicketStore] = Key("ticketing.store")
"""The app's ticket store in ``hall.services.Services``."""
