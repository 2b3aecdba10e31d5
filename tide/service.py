"""The tide controller's Redis side: read live load, run the policy, apply or propose decisions.

Windows change only through ``TicketStore.change_window`` with ``ticketing.model``
transitions (login of the standby clerk, close, reassign), each committed atomically
with its ``window.changed`` event. The tide's own record (``tide.decision`` /
``tide.override`` events, recent decisions, pending proposals) is written in one
MULTI on keys of the same hall, so boards and the dashboard read it from the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from hall.config import HallConfig
from hall.errors import DomainError, IllegalTransition, Invalid, NotFound
from hall.events import Event, EventType
from hall.services import Key
from ticketing import model
from ticketing.commit import STREAM_MAXLEN
from ticketing.estimate import RECENT_SERVICES
from ticketing.keys import HallKeys, local_day
from ticketing.model import (
    WindowState,
    WindowStatus,
)
from ticketing.store import TicketStore
from tide.keys import TideKeys
from tide.load import HallLoad, measure
from tide.policy import Action, Decision, Memory, decide, remember, standby_clerk
from tide.settings import Mode, TideSettings, parse_tide

log = logging.getLogger("tide")
RECENT_DECISIONS = 50
PENDING_SECONDS = 600.0  # a proposal nobody confirmed lapses after this
HEAD_SAMPLE = 10  # waiting tickets read per queue for the longest wait
STREAM_PAGE = 500  # events read and decoded between two yields to the event loop


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(fields: Any) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in fields.items()}


def _flat(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry with its decision's action, window, clerk and reasons also at the top level."""
    d = entry.get("decision")
    if not isinstance(d, dict):
        return entry
    return {**entry, "action": d.get("action"), "window": d.get("window"),
            "clerk": d.get("clerk"), "queues": d.get("queues"),
            "reason_zh": d.get("reason_zh"), "reason_en": d.get("reason_en"),
            "reason": d.get("reason_zh")}


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
        self._arrivals: dict[str, dict[str, deque[float]]] = {}
        self._cursor: dict[str, str] = {}
        # The controller and the dashboard read the stream through one cursor per hall.
        self._reading: dict[str, asyncio.Lock] = {}

    @classmethod
    def for_halls(cls, redis: Redis, store: TicketStore) -> TideService:
        return cls(redis, store, {h: parse_tide(cfg.tide) for h, cfg in store.halls.items()})

    # ---- live load ----------------------------------------------------------------

    async def _recent_arrivals(self, cfg: HallConfig, now: float, horizon: float
                               ) -> dict[str, deque[float]]:
        """Issue times per queue, read from the event stream incrementally."""
        async with self._reading.setdefault(cfg.id, asyncio.Lock()):
            return await self._read_arrivals(cfg, now, horizon)

    async def _read_arrivals(self, cfg: HallConfig, now: float, horizon: float
                             ) -> dict[str, deque[float]]:
        keys = HallKeys(cfg.id)
        arrivals = self._arrivals.setdefault(cfg.id, {q.letter: deque() for q in cfg.queues})
        cursor = self._cursor.get(cfg.id)
        if cursor is None:
            entries: list[Any] = []
            last = "+"
            while True:
                batch = await self.redis.xrevrange(keys.events, max=last, count=500)
                if not batch:
                    break
                entries.extend(batch)
                oldest = float(_decode(batch[-1][1]).get("at", now))
                if oldest < now - horizon or len(batch) < 500:
                    break
                last = "(" + _s(batch[-1][0])
            entries.reverse()
            self._take_arrivals(cfg.id, entries, arrivals)
        else:
            # page through what is new, so a busy hall's backlog is never one huge reply,
            # and let requests run between pages
            start = "(" + cursor
            while True:
                page = list(await self.redis.xrange(keys.events, min=start, count=STREAM_PAGE)
                            or [])
                self._take_arrivals(cfg.id, page, arrivals)
                if len(page) < STREAM_PAGE:
                    break
                start = "(" + _s(page[-1][0])
                await asyncio.sleep(0)
        if cfg.id not in self._cursor:
            self._cursor[cfg.id] = "0-0"
        for q in arrivals.values():
            while q and q[0] < now - horizon:
                q.popleft()
        return arrivals

    def _take_arrivals(self, hall_id: str, entries: list[Any],
                       arrivals: dict[str, deque[float]]) -> None:
        for entry_id, fields in entries:
            self._cursor[hall_id] = _s(entry_id)
            kind = fields.get(b"type", fields.get("type"))
            if kind is None or _s(kind) != EventType.TICKET_ISSUED.value:
                continue  # only ticket.issued entries are decoded further
            decoded = _decode(fields)
            queue = json.loads(decoded["data"]).get("ticket", {}).get("queue")
            if queue in arrivals:
                arrivals[queue].append(float(decoded["at"]))

    async def load(self, hall_id: str) -> HallLoad:
        cfg = self.store.hall(hall_id)
        settings = self.settings[hall_id]
        keys = HallKeys(hall_id)
        now = self.store.clock()
        windows = await self.store.windows(hall_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for q in cfg.queues:
                pipe.zcard(keys.queue(q.letter))
                pipe.zrange(keys.queue(q.letter), 0, HEAD_SAMPLE - 1)
                pipe.lrange(keys.service_times(q.letter), 0, RECENT_SERVICES - 1)
            raw = await pipe.execute()
        waiting: dict[str, list[float]] = {}
        services: dict[str, list[float]] = {}
        heads: list[tuple[str, str]] = []
        for i, q in enumerate(cfg.queues):
            count, ids, svc = raw[3 * i: 3 * i + 3]
            waiting[q.letter] = [now] * int(count)
            services[q.letter] = [float(x) for x in svc]
            heads.extend((q.letter, _s(t)) for t in ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, tid in heads:
                pipe.hget(keys.ticket(tid), "json")
            tickets = await pipe.execute()
        slot = {q.letter: 0 for q in cfg.queues}
        for (letter, _), data in zip(heads, tickets, strict=True):
            if data is not None and slot[letter] < len(waiting[letter]):
                waiting[letter][slot[letter]] = float(json.loads(data)["enqueued_at"])
                slot[letter] += 1
        arrivals = await self._recent_arrivals(cfg, now, settings.smoothing_minutes * 60.0 * 16)
        return measure(cfg, now, windows, waiting, arrivals, services,
                       settings.smoothing_minutes)

    # ---- state --------------------------------------------------------------------

    async def mode(self, hall_id: str) -> Mode:
        raw = await self.redis.get(TideKeys(hall_id).mode)
        return Mode(_s(raw)) if raw is not None else self.settings[hall_id].mode

    async def set_mode(self, hall_id: str, mode: Mode, by: str) -> None:
        tk = TideKeys(hall_id)
        await self.redis.set(tk.mode, mode.value)
        await self._record(hall_id, EventType.TIDE_OVERRIDE,
                           {"kind": "mode", "mode": mode.value, "by": by})

    async def memory(self, hall_id: str) -> Memory:
        raw = await self.redis.get(TideKeys(hall_id).memory)
        return Memory.from_dict(json.loads(raw)) if raw else Memory()

    async def overrides(self, hall_id: str) -> dict[int, dict[str, Any]]:
        raw = await self.redis.hgetall(TideKeys(hall_id).overrides)
        return {int(_s(k)): json.loads(v) for k, v in raw.items()}

    async def pending(self, hall_id: str) -> dict[str, dict[str, Any]]:
        raw = await self.redis.hgetall(TideKeys(hall_id).pending)
        now = self.store.clock()
        out = {_s(k): json.loads(v) for k, v in raw.items()}
        stale = [k for k, v in out.items() if now - float(v["at"]) > PENDING_SECONDS]
        if stale:
            await self.redis.hdel(TideKeys(hall_id).pending, *stale)
        return {k: v for k, v in out.items() if k not in stale}

    async def recent(self, hall_id: str, count: int = 20) -> list[dict[str, Any]]:
        raw = await self.redis.lrange(TideKeys(hall_id).decisions, 0, count - 1)
        return [json.loads(r) for r in raw]

    async def state(self, hall_id: str) -> dict[str, Any]:
        cfg = self.store.hall(hall_id)
        settings = self.settings[hall_id]
        load = await self.load(hall_id)
        memory = await self.memory(hall_id)
        return {
            "hall": hall_id, "mode": (await self.mode(hall_id)).value,
            "policy": settings.policy.value,
            "target_wait_minutes": settings.target_wait_minutes,
            "leader": _s(leader) if (leader := await self.redis.get(TideKeys(hall_id).leader))
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
                         "toggles_today": memory.of(w.number).toggles
                         if memory.day == local_day(load.at, cfg) else 0}
                        for w in cfg.windows if w.kind.value == "tide" or w.lendable],
            "pending": [_flat({"id": k, **v}) for k, v in (await self.pending(hall_id)).items()],
            "overrides": [_flat({"window": n, **v})
                          for n, v in (await self.overrides(hall_id)).items()],
            "recent": [_flat(r) for r in await self.recent(hall_id)],
        }

    # ---- the policy run -----------------------------------------------------------

    async def run_policy(self, hall_id: str) -> list[Decision]:
        """One controller step for a hall: apply (auto) or propose (advise); off does nothing."""
        mode = await self.mode(hall_id)
        if mode is Mode.OFF:
            return []
        cfg = self.store.hall(hall_id)
        load = await self.load(hall_id)
        overrides = await self.overrides(hall_id)
        pending = await self.pending(hall_id)
        exclude = frozenset(overrides) | frozenset(int(k.split(":")[0]) for k in pending)
        local = datetime.fromtimestamp(load.at, cfg.tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        decisions = decide(cfg, self.settings[hall_id], load, await self.memory(hall_id), hour,
                           exclude)
        done: list[Decision] = []
        for d in decisions:
            try:
                if mode is Mode.AUTO:
                    await self.apply(hall_id, d, by="tide", status="applied")
                else:
                    await self.propose(hall_id, d)
            except DomainError as exc:  # e.g. the clerk logged in elsewhere meanwhile
                log.warning("tide decision %s for hall %s not applied: %s", d, hall_id, exc)
                continue
            done.append(d)
        return done

    async def propose(self, hall_id: str, d: Decision) -> str:
        pid = f"{d.window}:{d.action.value}"
        entry = {"decision": d.to_dict(), "at": self.store.clock()}
        await self.redis.hset(TideKeys(hall_id).pending, pid, json.dumps(entry))
        await self._record(hall_id, EventType.TIDE_DECISION,
                           {"status": "proposed", "id": pid, "decision": d.to_dict()})
        return pid

    async def confirm(self, hall_id: str, pid: str, by: str, accept: bool = True) -> Decision:
        tk = TideKeys(hall_id)
        raw = await self.redis.hget(tk.pending, pid)
        if raw is None:
            raise NotFound(f"no pending tide decision '{pid}'", code="unknown_decision")
        d = Decision.from_dict(json.loads(raw)["decision"])
        if not await self.redis.hdel(tk.pending, pid):
            raise IllegalTransition("another manager answered this proposal first",
                                    code="already_answered")
        if accept:
            await self.apply(hall_id, d, by=by, status="confirmed")
        else:
            await self._record(hall_id, EventType.TIDE_DECISION,
                               {"status": "dismissed", "id": pid, "decision": d.to_dict(),
                                "by": by})
        return d

    async def apply(self, hall_id: str, d: Decision, by: str, status: str) -> WindowState:
        """Change the window through ticketing and record the decision on the stream."""
        cfg = self.store.hall(hall_id)
        change: Callable[[WindowState, float], model.Transition[None, WindowState]]
        if d.action is Action.OPEN:
            clerk = d.clerk
            if clerk is None:
                raise Invalid("opening a window needs a clerk", code="no_standby_clerk")

            def change(w: WindowState, now: float) -> model.Transition[None, WindowState]:
                if w.status is not WindowStatus.CLOSED:
                    raise IllegalTransition(f"window {w.number} is already {w.status.value}",
                                            code="window_not_closed")
                return model.login(w, clerk, now)
        elif d.action is Action.CLOSE:
            change = model.close
        else:
            queues = d.queues if d.action is Action.LEND else None
            for q in queues or ():
                if cfg.queue(q) is None:
                    raise Invalid(f"hall '{hall_id}' has no queue '{q}'", code="unknown_queue")

            def change(w: WindowState, now: float) -> model.Transition[None, WindowState]:
                return model.reassign(w, queues, now)
        window = await self.store.change_window(hall_id, d.window, change,
                                                reason=f"tide.{d.action.value}")
        now = self.store.clock()
        memory = remember(await self.memory(hall_id), [d], now, local_day(now, cfg))
        await self.redis.set(TideKeys(hall_id).memory, json.dumps(memory.to_dict()))
        zh, en = announce(d)
        await self._record(hall_id, EventType.TIDE_DECISION, {
            "status": status, "decision": d.to_dict(), "by": by, "window": window.to_dict(),
            "message_zh": zh, "message_en": en, "notify_clerk": d.clerk
            if d.action is Action.OPEN else None})
        return window

    async def override(self, hall_id: str, d: Decision, by: str) -> WindowState:
        """A manager's own decision; the policy leaves the window alone until released."""
        cfg = self.store.hall(hall_id)
        if cfg.window(d.window) is None:
            raise NotFound(f"hall '{hall_id}' has no window {d.window}", code="unknown_window")
        if d.action is Action.OPEN and d.clerk is None:
            load = await self.load(hall_id)
            clerk = standby_clerk(cfg, d.window, load.busy_clerks)
            if clerk is None:
                raise IllegalTransition(f"no standby clerk is rostered for window {d.window}",
                                        code="no_standby_clerk")
            d = Decision(d.action, d.window, d.queues or cfg.window_queues(d.window), clerk,
                         d.reason_zh, d.reason_en)
        window = await self.apply(hall_id, d, by=by, status="override")
        entry = {"action": d.action.value, "by": by, "at": self.store.clock(),
                 "decision": d.to_dict()}
        tk = TideKeys(hall_id)
        await self.redis.hset(tk.overrides, str(d.window), json.dumps(entry))
        await self.redis.hdel(tk.pending, *(f"{d.window}:{a.value}" for a in Action))
        await self._record(hall_id, EventType.TIDE_OVERRIDE,
                           {"kind": "set", "window": d.window, **entry})
        return window

    async def release(self, hall_id: str, window: int, by: str) -> None:
        self.store.hall(hall_id)
        if not await self.redis.hdel(TideKeys(hall_id).overrides, str(window)):
            raise NotFound(f"window {window} has no override", code="no_override")
        await self._record(hall_id, EventType.TIDE_OVERRIDE,
                           {"kind": "released", "window": window, "by": by})

    async def _record(self, hall_id: str, kind: EventType, data: dict[str, Any]) -> None:
        now = self.store.clock()
        fields: dict[Any, Any] = Event(kind, now, data).to_fields()
        entry = json.dumps({"type": kind.value, "at": now, **data}, ensure_ascii=False)
        tk = TideKeys(hall_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(HallKeys(hall_id).events, fields, maxlen=STREAM_MAXLEN,
                      approximate=True)
            pipe.lpush(tk.decisions, entry)
            pipe.ltrim(tk.decisions, 0, RECENT_DECISIONS - 1)
            await pipe.execute()
        for observer in self.store.observers:  # metrics and logs (hall.metrics)
            observer(hall_id, kind, data)


TIDE: Key[TideService] = Key("tide.service")
