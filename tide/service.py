"""The tide controller's Redis side: read live load, run the policy, apply or propose decisions.

Every tide change is one atomic step (``tide.state``): apply a decision (the window
change through ``tide.apply.apply_decision``, the toggle count, the dropped proposals),
set the mode, propose, confirm or dismiss, override, release. Each commits its writes
and its one ``tide.decision`` / ``tide.override`` event together through ticketing's
commit mechanism, or nothing at all; a conflict with another writer recomputes it from
fresh state. Events that change a window carry it (``window``) like ``window.changed``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar

from redis.asyncio import Redis

from hall.calendar import NationalCalendar, local_day, national_calendar
from hall.config import HallConfig
from hall.errors import DomainError, IllegalTransition, NotFound
from hall.events import EventType
from hall.services import Key
from hall.text import as_str
from ticketing.commit import Txn, retrying
from ticketing.estimate import RECENT_SERVICES
from ticketing.keys import HallKeys
from ticketing.model import WindowState
from ticketing.queries import read_waiting, waiting_from
from ticketing.records import put_window
from ticketing.store import TicketStore
from tide.apply import apply_decision, recheck_proposal
from tide.history import hourly_shape, past_days, profile_for, read_history
from tide.hours import local_hour, open_at
from tide.keys import TideKeys
from tide.load import ArrivalRates, HallLoad, measure
from tide.policy import (
    Action,
    Assessment,
    Decision,
    assess,
    proposed,
    remember,
    standby_clerk,
)
from tide.quotes import day_accuracy
from tide.settings import Mode, TideSettings, parse_tide
from tide.state import TideRead, pending_ids, read, record

log = logging.getLogger("tide")
HEAD_SAMPLE = 10  # waiting tickets read per queue for the longest wait
STREAM_PAGE = 100  # events read and decoded between two yields to the event loop (~2 ms)
T = TypeVar("T")
Built = tuple[Txn, EventType, dict[str, Any], T]


@dataclass(frozen=True)
class LoadReads:
    """A hall's load as read from Redis, before the time of the measure is added."""

    windows: list[WindowState]
    counts: dict[str, int]
    enqueued: dict[str, list[float]]  # the head sample's enqueue times, per queue
    services: dict[str, list[float]]


@dataclass(frozen=True)
class PolicyReads:
    """What ``run_policy`` read while the hall's stream ended at ``stream_last``."""

    stream_last: str
    tide: TideRead
    load: LoadReads


def _decode(fields: Any) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in fields.items()}


def _flat(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry with its decision's fields also at the top level; the decision read back
    through ``Decision`` (an entry stored before a field was added gets its default)."""
    d = entry.get("decision")
    if not isinstance(d, dict):
        return entry
    fields = Decision.from_dict(d).to_dict()
    return {**entry, "decision": fields, **fields, "reason": fields["reason_zh"]}


def announce(d: Decision) -> tuple[str, str]:
    """What a hall board says about an applied decision."""
    n = d.window
    return {
        Action.OPEN: (f"{n}号潮汐窗口已开放", f"Tide window {n} is now open"),
        Action.CLOSE: (f"{n}号潮汐窗口办完当前业务后关闭",
                       f"Tide window {n} closes after its current ticket"),
        Action.LEND: (f"{n}号窗口临时增办{'、'.join(d.queues)}类业务",
                      f"Window {n} now also serves queue(s) {', '.join(d.queues)}"),
        Action.RETURN: (f"{n}号窗口恢复原业务", f"Window {n} is back to its own queues"),
    }[d.action]


class TideService:
    """Tide state and actions of every hall, shared by the controller loop and the API."""

    def __init__(self, redis: Redis, store: TicketStore, settings: dict[str, TideSettings]
                 ) -> None:
        self.redis, self.store, self.settings = redis, store, settings
        self._rates: dict[str, ArrivalRates] = {}
        self._cursor: dict[str, str] = {}
        # The controller and the dashboard read the stream through one cursor per hall.
        self._reading: dict[str, asyncio.Lock] = {}
        self._shapes: dict[str, tuple[date, tuple[float, ...] | None]] = {}
        self._national: NationalCalendar | None = None
        self._reads: dict[str, PolicyReads] = {}  # run_policy's, by the stream's last id

    @classmethod
    def for_halls(cls, redis: Redis, store: TicketStore) -> TideService:
        # halls generated from one template share its [tide] table: parse it once
        parsed: dict[int, TideSettings] = {}
        return cls(redis, store, {
            h: parsed.get(id(cfg.tide)) or parsed.setdefault(id(cfg.tide), parse_tide(cfg.tide))
            for h, cfg in store.halls.items()})

    # ---- live load ----------------------------------------------------------------

    async def _arrival_rates(self, cfg: HallConfig, now: float) -> dict[str, tuple[float, float]]:
        """Smoothed arrival rates, fed from the stream's ``ticket.issued`` entries."""
        async with self._reading.setdefault(cfg.id, asyncio.Lock()):
            settings = self.settings[cfg.id]
            rates = self._rates.get(cfg.id)
            if rates is None:
                rates = self._rates[cfg.id] = ArrivalRates(
                    [q.letter for q in cfg.queues], settings.smoothing_minutes)
                await self._read_back(cfg, rates, now, rates.tau * 16)
            else:
                await self._read_new(cfg, rates)
            return rates.per_hour(now)

    async def _read_back(self, cfg: HallConfig, rates: ArrivalRates, now: float,
                         horizon: float) -> None:
        keys = HallKeys(cfg.id)
        entries: list[Any] = []
        last = "+"
        while True:
            batch = await self.redis.xrevrange(keys.events, max=last, count=STREAM_PAGE)
            if not batch:
                break
            entries.extend(batch)
            oldest = float(_decode(batch[-1][1]).get("at", now))
            if oldest < now - horizon or len(batch) < STREAM_PAGE:
                break
            last = "(" + as_str(batch[-1][0])
        entries.reverse()
        self._cursor[cfg.id] = "0-0"
        for i in range(0, len(entries), STREAM_PAGE):  # hours of a busy hall: yield between
            self._take(cfg.id, entries[i:i + STREAM_PAGE], rates)
            await asyncio.sleep(0)

    async def _read_new(self, cfg: HallConfig, rates: ArrivalRates) -> None:
        # page through what is new, so a busy hall's backlog is never one huge reply,
        # and let requests run between pages
        start = "(" + self._cursor[cfg.id]
        while True:
            page = list(await self.redis.xrange(HallKeys(cfg.id).events, min=start,
                                                count=STREAM_PAGE) or [])
            self._take(cfg.id, page, rates)
            if len(page) < STREAM_PAGE:
                break
            start = "(" + as_str(page[-1][0])
            await asyncio.sleep(0)

    def _take(self, hall_id: str, entries: list[Any], rates: ArrivalRates) -> None:
        for entry_id, fields in entries:
            self._cursor[hall_id] = as_str(entry_id)
            kind = fields.get(b"type", fields.get("type"))
            if kind is None or as_str(kind) != EventType.TICKET_ISSUED.value:
                continue  # only ticket.issued entries are decoded further
            decoded = _decode(fields)
            queue = json.loads(decoded["data"]).get("ticket", {}).get("queue")
            rates.observe(str(queue), float(decoded["at"]))

    async def load(self, hall_id: str) -> HallLoad:
        cfg = self.store.hall(hall_id)
        now = self.store.clock()
        reads = await self._load_reads(cfg)
        return self._measured(cfg, reads, now, await self._arrival_rates(cfg, now))

    async def _load_reads(self, cfg: HallConfig) -> LoadReads:
        """What a hall's load is measured from: windows, waiting counts, the waiting heads'
        enqueue times, recent service times (Redis only; ``_measured`` adds the time)."""
        keys = HallKeys(cfg.id)
        windows = await self.store.windows(cfg.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            read_waiting(pipe, cfg)  # the one reader of waiting counts (ticketing.queries)
            for q in cfg.queues:
                pipe.zrange(keys.queue(q.letter), 0, HEAD_SAMPLE - 1)
                pipe.lrange(keys.service_times(q.letter), 0, RECENT_SERVICES - 1)
            raw = await pipe.execute()
        counts = waiting_from(cfg, raw[: len(cfg.queues)])
        rest = raw[len(cfg.queues):]
        services: dict[str, list[float]] = {}
        heads: list[tuple[str, str]] = []
        for i, q in enumerate(cfg.queues):
            ids, svc = rest[2 * i: 2 * i + 2]
            services[q.letter] = [float(x) for x in svc]
            heads.extend((q.letter, as_str(t)) for t in ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, tid in heads:
                pipe.hget(keys.ticket(tid), "json")
            tickets = await pipe.execute()
        enqueued: dict[str, list[float]] = {q.letter: [] for q in cfg.queues}
        for (letter, _), data in zip(heads, tickets, strict=True):
            if data is not None and len(enqueued[letter]) < counts[letter]:
                enqueued[letter].append(float(json.loads(data)["enqueued_at"]))
        return LoadReads(windows, counts, enqueued, services)

    def _measured(self, cfg: HallConfig, reads: LoadReads, now: float,
                  rates: dict[str, tuple[float, float]]) -> HallLoad:
        # a waiting ticket beyond the head sample counts as arrived now
        waiting = {q: [*reads.enqueued[q], *[now] * (n - len(reads.enqueued[q]))]
                   for q, n in reads.counts.items()}
        return measure(cfg, now, reads.windows, waiting, rates, reads.services)

    # ---- state --------------------------------------------------------------------

    async def _read(self, hall_id: str) -> TideRead:
        cfg = self.store.hall(hall_id)
        return await read(self.redis, hall_id, [w.number for w in cfg.windows],
                          self.settings[hall_id].mode, self.store.clock())

    async def mode(self, hall_id: str) -> Mode:
        return (await self._read(hall_id)).mode

    async def recent(self, hall_id: str, count: int = 20) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(TideKeys(hall_id).decisions, 0, count - 1)
        return [json.loads(r) for r in raw]

    async def settings_today(self, cfg: HallConfig, now: float) -> TideSettings:
        """The hall's settings, with the day's arrival pattern forecast from its own records
        (same weekday, after-holiday flag) when it has any; read once a day."""
        settings = self.settings[cfg.id]
        day = datetime.fromtimestamp(now, cfg.tz).date()
        cached = self._shapes.get(cfg.id)
        if cached is None or cached[0] != day:
            history = await read_history(self.redis, cfg, past_days(day), self.store.archive)
            profile = profile_for(cfg, history, day, self._calendar())
            shape = hourly_shape(profile, cfg) if profile is not None else None
            self._shapes[cfg.id] = cached = (day, shape if shape and sum(shape) > 0 else None)
        return settings.with_(hourly_profile=cached[1]) if cached[1] else settings

    def _calendar(self) -> NationalCalendar:
        if self._national is None:
            self._national = national_calendar()
        return self._national

    async def _assess(self, cfg: HallConfig, r: TideRead, load: HallLoad) -> Assessment:
        exclude = dict.fromkeys(r.overrides, "override")
        if r.mode is Mode.ADVISE:  # a proposal waits for the manager; auto acts regardless
            for pid in r.pending:
                exclude.setdefault(int(pid.split(":")[0]), "pending")
        settings = await self.settings_today(cfg, load.at)
        return assess(cfg, settings, load, r.memory, local_hour(cfg, load.at), exclude,
                      open_at(cfg, load.at))

    async def state(self, hall_id: str) -> dict[str, Any]:
        cfg = self.store.hall(hall_id)
        settings = self.settings[hall_id]
        load = await self.load(hall_id)
        r = await self._read(hall_id)
        memory = r.memory
        today = memory.day == local_day(load.at, cfg.tz)
        holds = (await self._assess(cfg, r, load)).holds if r.mode is not Mode.OFF else []
        return {
            "hall": hall_id, "mode": r.mode.value,
            "policy": settings.policy.value,
            "target_wait_minutes": settings.target_wait_minutes,
            "max_toggles_per_day": settings.max_toggles_per_day,
            "open_now": open_at(cfg, load.at),
            "leader": as_str(leader) if (leader := await self.redis.get(TideKeys(hall_id).leader))
            else None,
            "queues": [{"queue": q.queue, "waiting": q.waiting,
                        "longest_wait_minutes": round(q.longest_wait_seconds / 60, 1),
                        "arrivals_per_hour": round(q.arrivals_per_hour, 1),
                        "service_minutes": round(q.service_seconds / 60, 1),
                        "servers": round(q.servers, 2),
                        "predicted_wait_minutes": round(q.predicted_wait_seconds / 60, 1)}
                       for q in load.queues.values()],
            "windows": [{"number": w.number, "kind": w.kind.value, "lendable": w.lendable,
                         "status": load.windows[w.number].status.value,
                         "clerk": load.windows[w.number].clerk,
                         "queues": list(load.served_queues(cfg, w.number)),
                         "toggles_today": memory.of(w.number).toggles if today else 0,
                         "manual_toggles_today": memory.of(w.number).manual if today else 0,
                         "override": w.number in r.overrides}
                        for w in cfg.tide_managed_windows],
            # why the controller holds back a change it would otherwise make (or propose)
            "held": [h.to_dict() for h in holds],
            "pending": [_flat({"id": k, **v}) for k, v in r.pending.items()],
            "overrides": [_flat({"window": n, **v}) for n, v in r.overrides.items()],
            "recent": [_flat(e) for e in await self.recent(hall_id)],
            # today's waits quoted at issue against the real ones (tide.quotes)
            "estimates_today": vars(await day_accuracy(self.redis, hall_id,
                                                       local_day(load.at, cfg.tz))),
        }

    # ---- the one atomic step ------------------------------------------------------

    async def _change(self, hall_id: str, build: Callable[[TideRead, float], Built[T]]) -> T:
        """Read, build the change, commit it with its event; recomputed on a conflict."""
        self.store.hall(hall_id)

        async def attempt() -> T:
            r = await self._read(hall_id)
            now = self.store.clock()
            txn, kind, data, result = build(r, now)
            record(txn, hall_id, kind, now, data)
            await self._commit(txn, kind, data)
            return result

        return await retrying(attempt)

    async def _commit(self, txn: Txn, kind: EventType, data: dict[str, Any]) -> None:
        """The commit itself (tests inject a fault here: then nothing may be left)."""
        await self.store.committer.commit(txn, kind, data)

    def _applied(self, cfg: HallConfig, r: TideRead, now: float, d: Decision, by: str,
                 status: str, manual: bool = False) -> tuple[Txn, dict[str, Any], WindowState]:
        """The writes of applying ``d``: the window, the toggle count, its proposals gone."""
        window = apply_decision(cfg, r.windows, d, now)
        memory = remember(r.memory, [d], now, local_day(now, cfg.tz), manual)
        txn = r.txn(memory=memory)
        put_window(txn, window, r.window_vers[d.window])
        if d.action is Action.OPEN:  # the clerk must not log in elsewhere meanwhile
            r.guard_windows(txn, [n for n in r.windows if n != d.window])
        superseded = [p for p in pending_ids(d.window) if p in r.pending]
        if superseded:
            txn.op("HDEL", TideKeys(r.hall).pending, *superseded)
        zh, en = announce(d)
        data = {"status": status, "decision": d.to_dict(), "by": by, "window": window.to_dict(),
                "reason": f"tide.{d.action.value}", "message_zh": zh, "message_en": en,
                "notify_clerk": d.clerk if d.action is Action.OPEN else None}
        return txn, data, window

    # ---- the policy run -----------------------------------------------------------

    async def run_policy(self, hall_id: str, stream_last: str | None = None
                         ) -> list[Decision]:
        """One controller step for a hall: apply (auto) or propose (advise); off does nothing.

        ``stream_last``: the id of the hall's newest stream entry, read just before. Every
        change the policy reads (windows, queues, service times, tide state) commits an
        event, so while that id is the one of the last run, the hall's Redis reads are
        reused and only the time moves: the same decisions, without the round trips.
        (Not with live proposals: they lapse by time in the read.)"""
        cfg = self.store.hall(hall_id)
        kept = self._reads.get(hall_id)
        if stream_last is not None and kept is not None and kept.stream_last == stream_last:
            r, reads = kept.tide, kept.load
            now = self.store.clock()
        else:
            self._reads.pop(hall_id, None)
            r = await self._read(hall_id)
            if r.mode is Mode.OFF:
                return []
            now = self.store.clock()
            reads = await self._load_reads(cfg)
            if stream_last is not None and not r.pending and not r.lapsed:
                self._reads[hall_id] = PolicyReads(stream_last, r, reads)
        if r.mode is Mode.OFF:
            return []
        if stream_last is not None and self._cursor.get(hall_id) == stream_last \
                and hall_id in self._rates:
            rates = self._rates[hall_id].per_hour(now)  # nothing new to read
        else:
            rates = await self._arrival_rates(cfg, now)
        load = self._measured(cfg, reads, now, rates)
        done: list[Decision] = []
        for d in (await self._assess(cfg, r, load)).decisions:
            try:
                if proposed(r.mode, d):
                    await self.propose(hall_id, d)
                else:
                    await self.apply(hall_id, d, by="tide", status="applied")
            except DomainError as exc:  # e.g. the clerk logged in elsewhere meanwhile
                log.warning("tide decision %s for hall %s not applied: %s", d, hall_id, exc)
                continue
            done.append(d)
        return done

    async def propose(self, hall_id: str, d: Decision) -> str:
        pid = f"{d.window}:{d.action.value}"

        def build(r: TideRead, now: float) -> Built[str]:
            txn = r.txn()
            txn.op("HSET", TideKeys(hall_id).pending, pid,
                   json.dumps({"decision": d.to_dict(), "at": now}, ensure_ascii=False))
            return txn, EventType.TIDE_DECISION, {"status": "proposed", "id": pid,
                                                  "decision": d.to_dict()}, pid

        return await self._change(hall_id, build)

    async def apply(self, hall_id: str, d: Decision, by: str, status: str) -> WindowState:
        """The controller's own decision (auto mode): the window, its toggle, its event."""
        cfg = self.store.hall(hall_id)

        def build(r: TideRead, now: float) -> Built[WindowState]:
            if d.window in r.overrides:
                raise IllegalTransition(f"window {d.window} is held by a manager override",
                                        code="window_overridden")
            txn, data, window = self._applied(cfg, r, now, d, by, status)
            return txn, EventType.TIDE_DECISION, data, window

        return await self._change(hall_id, build)

    async def confirm(self, hall_id: str, pid: str, by: str, accept: bool = True) -> Decision:
        """A manager answers a proposal. Accepting re-checks it on the state of now: a
        proposed clerk who logged in elsewhere meanwhile is replaced by another free
        standby clerk; a proposal that no longer holds is withdrawn (``proposal_stale``)."""
        cfg = self.store.hall(hall_id)
        tk = TideKeys(hall_id)
        stale: list[DomainError] = []

        def build(r: TideRead, now: float) -> Built[Decision]:
            stale.clear()
            entry = r.pending.get(pid)
            if entry is None:
                raise NotFound(f"no pending tide decision '{pid}' (answered or lapsed)",
                               code="unknown_decision")
            d = Decision.from_dict(entry["decision"])
            if not accept:
                txn = r.txn()
                txn.op("HDEL", tk.pending, pid)
                return txn, EventType.TIDE_DECISION, {"status": "dismissed", "id": pid,
                                                      "decision": d.to_dict(), "by": by}, d
            d = recheck_proposal(cfg, r.windows, d)
            try:
                if d.window in r.overrides:
                    raise IllegalTransition(f"window {d.window} is held by a manager override",
                                            code="window_overridden")
                txn, data, _ = self._applied(cfg, r, now, d, by, "confirmed")
            except DomainError as exc:
                stale.append(exc)
                txn = r.txn()
                txn.op("HDEL", tk.pending, pid)
                return txn, EventType.TIDE_DECISION, {
                    "status": "withdrawn", "id": pid, "decision": d.to_dict(), "by": by,
                    "why": str(exc)}, d
            return txn, EventType.TIDE_DECISION, {**data, "id": pid}, d

        d = await self._change(hall_id, build)
        if stale:
            raise IllegalTransition(f"the proposal no longer holds and was withdrawn: {stale[0]}",
                                    code="proposal_stale")
        return d

    async def override(self, hall_id: str, d: Decision, by: str) -> WindowState:
        """A manager's own decision; the policy leaves the window alone until released."""
        cfg = self.store.hall(hall_id)
        if cfg.window(d.window) is None:
            raise NotFound(f"hall '{hall_id}' has no window {d.window}", code="unknown_window")
        tk = TideKeys(hall_id)

        def build(r: TideRead, now: float) -> Built[WindowState]:
            decision = d
            if d.action is Action.OPEN and d.clerk is None:
                busy = frozenset(w.clerk for w in r.windows.values() if w.clerk is not None)
                clerk = standby_clerk(cfg, d.window, busy)
                if clerk is None:
                    raise IllegalTransition(
                        f"no standby clerk rostered for window {d.window} is free",
                        code="no_standby_clerk")
                decision = replace(d, queues=d.queues or cfg.window_queues(d.window),
                                   clerk=clerk)
            txn, data, window = self._applied(cfg, r, now, decision, by, "override",
                                              manual=True)
            entry = {"action": decision.action.value, "by": by, "at": now,
                     "decision": decision.to_dict()}
            txn.op("HSET", tk.overrides, str(d.window), json.dumps(entry, ensure_ascii=False))
            return txn, EventType.TIDE_OVERRIDE, {**data, "kind": "set"}, window

        return await self._change(hall_id, build)

    async def release(self, hall_id: str, window: int, by: str) -> None:
        tk = TideKeys(hall_id)

        def build(r: TideRead, now: float) -> Built[None]:
            if window not in r.overrides:
                raise NotFound(f"window {window} has no override", code="no_override")
            txn = r.txn()
            txn.op("HDEL", tk.overrides, str(window))
            return txn, EventType.TIDE_OVERRIDE, {"kind": "released", "window": window,
                                                  "by": by}, None

        await self._change(hall_id, build)

    async def save_plan(self, hall_id: str, plan: dict[str, Any], by: str) -> None:
        """Keep a staffing plan for the dashboard (the latest one; kept 8 days)."""
        tk = TideKeys(hall_id)

        def build(r: TideRead, now: float) -> Built[None]:
            txn = r.txn()
            txn.op("SET", tk.plan, json.dumps({**plan, "saved_at": now, "by": by},
                                              ensure_ascii=False))
            txn.op("EXPIRE", tk.plan, 8 * 86400)
            return txn, EventType.TIDE_PLAN, {"day": plan.get("day"), "by": by,
                                              "planned": plan.get("planned")}, None

        await self._change(hall_id, build)

    async def plan(self, hall_id: str) -> dict[str, Any] | None:
        self.store.hall(hall_id)
        raw = await self.redis.get(TideKeys(hall_id).plan)
        return json.loads(raw) if raw else None

    async def set_mode(self, hall_id: str, mode: Mode, by: str) -> None:
        """Change the controller's mode; leaving advise withdraws the open proposals."""
        tk = TideKeys(hall_id)

        def build(r: TideRead, now: float) -> Built[None]:
            txn = r.txn(mode=mode)
            withdrawn = sorted(r.pending) if mode is not Mode.ADVISE else []
            if withdrawn:
                txn.op("HDEL", tk.pending, *withdrawn)
            return txn, EventType.TIDE_OVERRIDE, {"kind": "mode", "mode": mode.value, "by": by,
                                                  "withdrawn": withdrawn}, None

        await self._change(hall_id, build)


TIDE: Key[TideService] = Key("tide.service")
