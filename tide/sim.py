"""Discrete-event simulation of a hall day that runs the real rules under a virtual clock.

Routing and call-next are ``ticketing.rules`` (``order_key``, ``select_next``); every
ticket and window change is a ``ticketing.model`` transition (call, start, finish,
no_show, cancel for a citizen who gives up). The tide runs as in production: every
``interval_seconds`` of the hall's ``[tide]`` table the controller measures the load
(``tide.load.measure`` on rates kept by ``tide.load.ArrivalRates``, fed each arrival
as the live service feeds it each ``ticket.issued``), asks ``tide.policy.assess``
(with the same opening-hours and lunch rule) and, by the mode, applies decisions with
``tide.apply.apply_decision`` (auto), or proposes them to a manager who confirms
``confirm_minutes`` later, re-checked by ``tide.apply.recheck_proposal`` (advise), or
does nothing (off). A standby clerk logged in by an open walks ``startup_minutes``
to the window before the first call. Only the Redis sorted sets and hashes are stood in
for by in-memory heaps and dicts. Times are seconds after the day's local midnight;
the model sees ``midnight + seconds``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, time

from hall.config import HallConfig, WindowKind
from hall.errors import DomainError
from ticketing import booking_rules, estimate, model, rules
from ticketing.booking_rules import CheckIn
from ticketing.calendars import hall_parts
from ticketing.estimate import RECENT_SERVICES
from ticketing.model import Channel, Ticket, TicketStatus, WindowState, WindowStatus
from ticketing.rules import served_queues
from tide.apply import apply_decision, recheck_proposal
from tide.arrivals import generate_arrivals
from tide.hours import day_end, open_at_hour, periods
from tide.load import ArrivalRates, measure
from tide.policy import Action, Decision, Memory, assess, proposed, remember
from tide.profiles import Arrival, DayProfile, Shift
from tide.settings import Mode, TideSettings

ARRIVE, START, FINISH, NO_SHOW, ABANDON, TICK, READY, CONFIRM, SHIFT_ON, SHIFT_OFF, REJOIN = \
    range(11)


@dataclass
class Sample:
    at: float
    waiting: dict[str, int]
    open_windows: int
    tide_open: int


@dataclass
class TicketRecord:
    number: str
    queue: str
    matter: str
    arrived: float
    wait: float  # until called, or until the citizen gave up
    outcome: str  # served | no_show | abandoned
    window: int | None
    counted: bool
    leg: int = 1  # 2+: the same citizen again after a transfer or a re-join
    priority: bool = False
    quoted: float | None = None  # the wait estimate the ticket showed at issue (leg 1)


@dataclass
class DayResult:
    hall: str
    policy: str
    seed: int
    tickets: list[TicketRecord] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    decisions: list[tuple[float, Decision]] = field(default_factory=list)  # applied
    proposals: list[tuple[float, Decision]] = field(default_factory=list)  # advise mode
    refused: list[tuple[float, Decision]] = field(default_factory=list)  # no longer held
    window_seconds: dict[int, float] = field(default_factory=dict)
    tide_windows: tuple[int, ...] = ()
    end: float = 0.0


class Simulation:
    """One hall day under one tide policy; ``run()`` returns its DayResult."""

    def __init__(self, cfg: HallConfig, settings: TideSettings, profile: DayProfile,
                 seed: int, tick_seconds: float | None = None, day: str = "2026-11-18",
                 arrivals: list[Arrival] | None = None) -> None:
        self.cfg, self.settings, self.profile, self.seed = cfg, settings, profile, seed
        # the live controller's interval unless a check asks otherwise
        self.tick_seconds = tick_seconds if tick_seconds is not None else settings.interval_seconds
        self.origin = datetime.combine(datetime.fromisoformat(day).date(), time(0),
                                       tzinfo=cfg.tz).timestamp()
        self.arrivals = (arrivals if arrivals is not None
                         else generate_arrivals(cfg, profile, random.Random(seed)))
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = itertools.count()
        self.tickets: dict[str, Ticket] = {}
        self.meta: dict[str, Arrival] = {}
        self.heaps: dict[str, list[tuple[float, int, str]]] = {q.letter: [] for q in cfg.queues}
        self.windows: dict[int, WindowState] = {w.number: WindowState(w.number)
                                                for w in cfg.windows}
        self.opened_at: dict[int, float] = {}
        self.arriving: dict[int, float] = {}  # window -> when its standby clerk is there
        self.pending: dict[int, Decision] = {}  # advise: window -> proposal awaiting a manager
        self.recent: dict[str, deque[float]] = {q.letter: deque(maxlen=RECENT_SERVICES)
                                                for q in cfg.queues}
        self.rates = ArrivalRates([q.letter for q in cfg.queues], settings.smoothing_minutes)
        self.waiting_count: dict[str, int] = {q.letter: 0 for q in cfg.queues}
        self.memory = Memory(day)
        self.day = day
        self.counters: dict[str, int] = {}
        self.result = DayResult(cfg.id, settings.policy.value, seed,
                                tide_windows=tuple(w.number for w in cfg.tide_windows))
        self.now = 0.0
        self.last_busy = 0.0
        self.hall_close = (profile.steady_hours * 3600.0 if profile.steady_hours > 0
                           else day_end(cfg) * 3600.0)
        self.ending: set[int] = set()  # windows whose shift is over: serve out, then close
        self.gone: set[str] = set()  # citizens who left without telling
        self.legs: dict[str, int] = {}
        self.quoted: dict[str, float] = {}
        self.slot_keys: dict[str, float] = {}  # booked tickets checked in on time
        self.issued: dict[str, float] = {}  # ticket id -> when it was issued (day seconds)

    # ---- scheduling ---------------------------------------------------------------

    def at(self, when: float, kind: int, payload: object = None) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, payload))

    def abs(self, t: float) -> float:
        return self.origin + t

    def run(self) -> DayResult:
        self._schedule_roster()
        for i, a in enumerate(self.arrivals):
            self.at(a.at, ARRIVE, i)
        first = self.arrivals[0].at if self.arrivals else 0.0
        self.at(math.floor(first / self.tick_seconds) * self.tick_seconds, TICK)
        self.last_arrival = self.arrivals[-1].at if self.arrivals else 0.0
        handlers = {ARRIVE: self._arrive, START: self._start, FINISH: self._finish,
                    NO_SHOW: self._no_show, ABANDON: self._abandon, TICK: self._tick,
                    READY: self._ready, CONFIRM: self._confirm, SHIFT_ON: self._shift_on,
                    SHIFT_OFF: self._shift_off, REJOIN: self._rejoin}
        while self.events:
            when, _, kind, payload = heapq.heappop(self.events)
            self.now = when
            handlers[kind](payload)
        # Windows count as open until the hall closes or the last citizen is done.
        self.now = max(self.last_busy, self.hall_close)
        for n in list(self.opened_at):
            self._closed(n)
        # Whoever still waits when the day ends went home unserved.
        for ticket in self.tickets.values():
            if ticket.status is TicketStatus.WAITING and ticket.id not in self.gone:
                self._record(ticket, "abandoned", None)
        self.result.end = self.now
        return self.result

    def roster(self) -> tuple[Shift, ...]:
        """The day's shifts: the profile's roster, else each non-tide window staffed by a
        clerk who may staff it through every opening period (closed over lunch)."""
        if self.profile.roster is not None:
            return self.profile.roster
        spans = [(0.0, math.inf)] if self.profile.steady_hours > 0 else periods(self.cfg)
        used: set[str] = set()
        clerks = sorted(self.cfg.staff, key=lambda s: len(s.windows))
        shifts: list[Shift] = []
        for w in self.cfg.windows:
            if w.kind is WindowKind.TIDE:
                continue
            staff = next((s for s in clerks if s.id not in used and s.may_staff(w.number)),
                         None)
            if staff is None:
                continue
            used.add(staff.id)
            shifts.extend(Shift(w.number, staff.id, a, b) for a, b in spans)
        return tuple(shifts)

    def _schedule_roster(self) -> None:
        for shift in self.roster():
            self.at(shift.start_hour * 3600.0, SHIFT_ON, shift)
            if math.isfinite(shift.end_hour):
                self.at(shift.end_hour * 3600.0, SHIFT_OFF, shift)

    def _shift_on(self, payload: object) -> None:
        shift: Shift = payload  # type: ignore[assignment]
        n = shift.window
        self.ending.discard(n)
        window = self.windows[n]
        if window.status is WindowStatus.CLOSED:
            self.windows[n] = model.login(window, shift.clerk, self.abs(self.now)).window
            self.opened_at[n] = self.now
        if shift.queues is not None and self.windows[n].queues_override != shift.queues:
            self.windows[n] = model.reassign(self.windows[n], shift.queues,
                                             self.abs(self.now)).window
        self._call_next(n)

    def _shift_off(self, payload: object) -> None:
        shift: Shift = payload  # type: ignore[assignment]
        n = shift.window
        if self.windows[n].clerk != shift.clerk or self.windows[n].status is \
                WindowStatus.CLOSED:
            return
        if not shift.serve_out:  # hand over: close after the current ticket
            self.windows[n] = model.close(self.windows[n], self.abs(self.now)).window
            if self.windows[n].status is WindowStatus.CLOSED:
                self._closed(n)
            return
        self.ending.add(n)
        self._maybe_end(n)

    def _maybe_end(self, n: int) -> None:
        """A window whose shift is over closes once it is idle with nobody left to call."""
        window = self.windows[n]
        if n not in self.ending or window.current is not None:
            return
        if any(self.waiting_count[q] for q in self._served(n)):
            return
        self.ending.discard(n)
        self.windows[n] = model.close(window, self.abs(self.now)).window
        self._closed(n)

    # ---- citizens -----------------------------------------------------------------

    def _arrive(self, index: object) -> None:
        a = self.arrivals[int(index)]  # type: ignore[call-overload]
        now = self.abs(self.now)
        slot_key: float | None = None
        if a.slot_start is not None:  # a booked citizen checks in (ticketing.booking_rules)
            booking = hall_parts(self.cfg)[2]
            slot = self.abs(a.slot_start)
            verdict = booking_rules.checkin_verdict(slot, now, booking)
            if verdict is CheckIn.EARLY:  # the kiosk says when check-in opens: come back then
                self.at(a.slot_start - booking.checkin_before_minutes * 60.0, ARRIVE, index)
                return
            if verdict is CheckIn.ON_TIME:
                slot_key = booking_rules.checkin_order_key(slot)
        n = self.counters[a.queue] = self.counters.get(a.queue, 0) + 1
        tid = f"t{index}"
        ticket = Ticket(tid, self.cfg.id, self.day, a.queue, a.matter,
                        Channel.APPOINTMENT if slot_key is not None else Channel.KIOSK, now,
                        now, number=f"{a.queue}{n:03d}", priority_group=a.priority_group,
                        appointment=a.appointment or slot_key is not None)
        self.tickets[tid], self.meta[tid] = ticket, a
        self.issued[tid] = self.now  # a booked citizen who came too early: at check-in
        if slot_key is not None:
            self.slot_keys[tid] = slot_key
        quote = self._quote(ticket)
        if quote is not None:
            self.quoted[tid] = quote
        self._enqueue(ticket)
        self.rates.observe(a.queue, now)
        if math.isfinite(a.patience_seconds):
            self.at(self.now + a.patience_seconds, ABANDON, tid)
        self._wake(a.queue)

    def _key(self, ticket: Ticket) -> float:
        """The order key (``ticketing.rules``; priority: a head start), or for a booked
        ticket checked in on time the slot's (``booking_rules.checked_in_key``), as the
        live ``TicketStore.issue`` gives them."""
        head_start = self.cfg.rules.priority_head_start_minutes
        slot_key = self.slot_keys.get(ticket.id) if not ticket.transferred else None
        if slot_key is not None and ticket.rejoins == 0:
            return booking_rules.checked_in_key(slot_key, rules.order_key(
                ticket.enqueued_at, ticket.priority_group is not None, head_start))
        return rules.order_key(ticket.enqueued_at, ticket.has_priority, head_start)

    def _enqueue(self, ticket: Ticket) -> None:
        """Into its queue under its order key (``_key``)."""
        key = self._key(ticket)
        heapq.heappush(self.heaps[ticket.queue], (key, next(self.seq), ticket.id))
        self.waiting_count[ticket.queue] += 1

    def _quote(self, ticket: Ticket) -> float | None:
        """The estimate the live hall shows at issue (``ticketing.estimate.position``);
        None when no window serves the queue now (the hall then shows a reason)."""
        key = self._key(ticket)
        # the live ZRANK: waiting tickets of the queue under a smaller order key (every
        # key in a queue is at most the time it was given: a walk-in is behind them all)
        ahead = (self.waiting_count[ticket.queue] if key >= self.abs(self.now) else
                 sum(1 for k, _, t in self.heaps[ticket.queue]
                     if k < key and self.tickets[t].status is TicketStatus.WAITING))
        return estimate.position(self.cfg, ticket.queue, ahead, self.recent[ticket.queue],
                                 self.windows.values()).estimated_wait_seconds

    def _abandon(self, tid: object) -> None:
        ticket = self.tickets[str(tid)]
        if ticket.status is not TicketStatus.WAITING or self.legs.get(ticket.id, 1) > 1:
            return
        self._record(ticket, "abandoned", None)
        if self.meta[ticket.id].silent:  # the ticket waits on; its call will be a no-show
            self.gone.add(ticket.id)
            return
        self.tickets[ticket.id] = model.cancel(ticket, self.abs(self.now), None).ticket
        self.waiting_count[ticket.queue] -= 1

    def _record(self, ticket: Ticket, outcome: str, window: int | None) -> None:
        a = self.meta[ticket.id]
        leg = self.legs.get(ticket.id, 1)
        start = self.issued[ticket.id] if leg == 1 else ticket.enqueued_at - self.origin
        self.result.tickets.append(TicketRecord(
            ticket.number, ticket.queue, ticket.matter, start, self.now - start, outcome,
            window, a.counted, leg, ticket.has_priority,
            self.quoted.get(ticket.id) if leg == 1 else None))

    # ---- windows ------------------------------------------------------------------

    def _served(self, number: int) -> tuple[str, ...]:
        return served_queues(self.cfg, self.windows[number])

    def _head(self, queue: str) -> rules.Head | None:
        top = self._top(queue)
        return rules.Head(queue, top[2], top[0]) if top is not None else None

    def _top(self, queue: str) -> tuple[float, int, str] | None:
        """The queue's first waiting entry (order key, sequence, ticket id), dropping those
        no longer waiting."""
        heap = self.heaps[queue]
        while heap and self.tickets[heap[0][2]].status is not TicketStatus.WAITING:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def _call_next(self, number: int) -> None:
        window = self.windows[number]
        if number in self.arriving or window.current is not None:  # on the way, or busy
            return
        served = self._served(number)
        heads = {q: h for q in served if (h := self._head(q)) is not None}
        head = rules.select_next(served, heads, self.cfg.rules.queue_step_minutes)
        if head is None:
            return
        heapq.heappop(self.heaps[head.queue])
        self.waiting_count[head.queue] -= 1
        ticket = self.tickets[head.ticket_id]
        tr = model.call(ticket, window, self.abs(self.now))
        called, self.windows[number] = tr.ticket, tr.window
        self.tickets[ticket.id] = called
        a = self.meta[ticket.id]
        # a no-show: one who misses the call (once), or one who left without telling
        missed = a.no_show and ticket.rejoins == 0 and not ticket.transferred
        if missed or ticket.id in self.gone:
            self.at(self.now + self.profile.no_show_wait_seconds, NO_SHOW, number)
        else:
            self._record(called, "served", number)
            self.at(self.now + self.profile.walk_seconds, START, number)

    def _current(self, number: int) -> Ticket:
        current = self.windows[number].current
        assert current is not None
        return self.tickets[current]

    def _service_seconds(self, ticket: Ticket) -> float:
        a = self.meta[ticket.id]
        return a.transfer_service if ticket.transferred else a.service_seconds

    def _start(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        ticket = model.start(self._current(n), self.windows[n], self.abs(self.now)).ticket
        self.tickets[ticket.id] = ticket
        self.at(self.now + self._service_seconds(ticket), FINISH, n)

    def _finish(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        current = self._current(n)
        a = self.meta[current.id]
        now = self.abs(self.now)
        if a.transfer_to is not None and not current.transferred:
            # served here, then sent on: waits again in the other queue, with a head start
            tr = model.transfer(current, self.windows[n], now, queue=a.transfer_to,
                                to_window=None, note="sim")
            ticket, self.windows[n] = tr.ticket, tr.window
            self.tickets[ticket.id] = ticket
            self.legs[ticket.id] = self.legs.get(ticket.id, 1) + 1
            self._enqueue(ticket)
            self._wake(ticket.queue)
        else:
            tr = model.finish(current, self.windows[n], now)
            ticket, self.windows[n] = tr.ticket, tr.window
            self.tickets[ticket.id] = ticket
        # what the live hall records: done_at - serving_at
        self.recent[current.queue].appendleft(now - (current.serving_at or now))
        self._after_ticket(n)

    def _no_show(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        tr = model.no_show(self._current(n), self.windows[n], self.abs(self.now))
        ticket, self.windows[n] = tr.ticket, tr.window
        self.tickets[ticket.id] = ticket
        if ticket.id not in self.gone:
            self._record(ticket, "no_show", n)
            after = self.meta[ticket.id].rejoin_after
            if after is not None and ticket.rejoins == 0:
                self.at(self.now + after, REJOIN, ticket.id)
        self._after_ticket(n)

    def _rejoin(self, tid: object) -> None:
        """A no-show comes back: ``model.rejoin`` within the hall's rules, placed by
        ``rules.rejoin_key`` behind the current head of the queue."""
        ticket = self.tickets[str(tid)]
        places = self.cfg.rules.rejoin_places_back
        try:
            back = model.rejoin(ticket, self.abs(self.now), self.cfg.rules.rejoin_minutes,
                                self.cfg.rules.max_rejoins).ticket
        except DomainError:
            return
        heap = self.heaps[ticket.queue]
        keys = sorted(k for k, _, t in heap if self.tickets[t].status is TicketStatus.WAITING)
        key = rules.rejoin_key(keys[:places + 1], places, self.abs(self.now))
        self.tickets[back.id] = back
        self.legs[back.id] = self.legs.get(back.id, 1) + 1
        heapq.heappush(heap, (key, next(self.seq), back.id))
        self.waiting_count[back.queue] += 1
        self._wake(back.queue)

    def _wake(self, queue: str) -> None:
        """Idle open windows serving ``queue`` call at once. An idle, open window has called
        everyone it serves (``_after_ticket``, ``_ready``, ``_shift_on``, a lend): with
        others already waiting in ``queue`` before this one, no window is idle for it (but a
        window just freed by a transfer, which ``_after_ticket`` then calls for)."""
        if self.waiting_count[queue] > 1:
            return
        for number, window in self.windows.items():
            if (window.status is WindowStatus.OPEN and window.current is None
                    and number not in self.arriving and queue in self._served(number)):
                self._call_next(number)
                if not self.waiting_count[queue]:
                    break

    def _after_ticket(self, n: int) -> None:
        self.last_busy = self.now
        if self.windows[n].status is WindowStatus.CLOSED:
            self.ending.discard(n)
            self._closed(n)
        elif self.windows[n].status is WindowStatus.OPEN:
            self._call_next(n)
            self._maybe_end(n)

    def _closed(self, n: int) -> None:
        start = self.opened_at.pop(n, None)
        if start is not None:
            self.result.window_seconds[n] = self.result.window_seconds.get(n, 0.0) + (
                self.now - start)

    def _ready(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        self.arriving.pop(n, None)
        if self.windows[n].status is WindowStatus.OPEN:
            self._call_next(n)

    # ---- the tide policy ----------------------------------------------------------

    def _tick(self, _: object) -> None:
        now = self.abs(self.now)
        waiting: dict[str, list[float]] = {}
        for letter, count in self.waiting_count.items():
            top = self._top(letter) if count else None
            waiting[letter] = [top[0], *([now] * (count - 1))] if top is not None else []
        load = measure(self.cfg, now, self.windows.values(), waiting, self.rates.per_hour(now),
                       self.recent)
        mode = self.settings.mode
        if mode is not Mode.OFF:
            hour = self.now / 3600.0
            open_now = self.profile.steady_hours > 0 or open_at_hour(self.cfg, hour)
            exclude = dict.fromkeys(self.pending, "pending") if mode is Mode.ADVISE else {}
            for d in assess(self.cfg, self.settings, load, self.memory, hour, exclude,
                            open_now).decisions:
                if not proposed(mode, d):
                    self._apply(d)
                else:
                    self.pending[d.window] = d
                    self.result.proposals.append((self.now, d))
                    self.at(self.now + self.profile.confirm_minutes * 60.0, CONFIRM, d.window)
        open_windows = len([w for w in self.windows.values()
                            if w.status is not WindowStatus.CLOSED])
        tide_open = sum(1 for n in self.result.tide_windows
                        if self.windows[n].status is not WindowStatus.CLOSED)
        self.result.samples.append(Sample(self.now, {k: len(v) for k, v in waiting.items()},
                                          open_windows, tide_open))
        staffed = open_windows > 0
        if (self.now < self.last_arrival or load.waiting > 0 or any(
                w.current for w in self.windows.values())) and (
                staffed or self.now < self.hall_close):
            self.at(self.now + self.tick_seconds, TICK)

    def _confirm(self, number: object) -> None:
        """The manager confirms a proposal (advise mode), re-checked as the live confirm is."""
        d = self.pending.pop(int(number), None)  # type: ignore[call-overload]
        if d is not None:
            self._apply(recheck_proposal(self.cfg, self.windows, d))

    def _apply(self, d: Decision) -> None:
        """Apply a decision through the production rule; a refused one changes nothing."""
        now = self.abs(self.now)
        try:
            window = apply_decision(self.cfg, self.windows, d, now)
        except DomainError:
            self.result.refused.append((self.now, d))
            return
        self.windows[d.window] = window
        self.memory = remember(self.memory, [d], now, self.day)
        self.result.decisions.append((self.now, d))
        n = d.window
        if d.action is Action.OPEN:
            self.opened_at[n] = self.now
            self.arriving[n] = self.now + self.profile.startup_minutes * 60.0
            self.at(self.arriving[n], READY, n)
        elif d.action is Action.CLOSE:
            if window.status is WindowStatus.CLOSED:
                self.arriving.pop(n, None)
                self._closed(n)
        elif d.action is Action.LEND and window.current is None:
            self._call_next(n)


def simulate(cfg: HallConfig, settings: TideSettings, profile: DayProfile, seed: int,
             tick_seconds: float | None = None) -> DayResult:
    return Simulation(cfg, settings, profile, seed, tick_seconds).run()
