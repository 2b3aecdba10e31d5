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
from hall.text import hours_of
from ticketing import model, rules
from ticketing.estimate import RECENT_SERVICES
from ticketing.model import Channel, Ticket, TicketStatus, WindowState, WindowStatus
from ticketing.rules import served_queues
from tide.apply import apply_decision, recheck_proposal
from tide.hours import hhmm_hours, open_at_hour
from tide.load import ArrivalRates, measure
from tide.policy import Action, Decision, Memory, assess, remember
from tide.profiles import Arrival, DayProfile
from tide.settings import Mode, TideSettings

ARRIVE, START, FINISH, NO_SHOW, ABANDON, TICK, READY, CONFIRM = range(8)


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


def generate_arrivals(cfg: HallConfig, profile: DayProfile, rng: random.Random) -> list[Arrival]:
    """Poisson arrivals, piecewise constant per hour and surge, with each citizen's draws."""
    cuts: set[float] = set()
    if profile.steady_hours > 0:
        periods = [(0.0, profile.steady_hours)]
    elif profile.use_opening_hours:
        periods = [(hours_of(a), hours_of(b)) for a, b in cfg.hours.periods]
    else:
        periods = [(0.0, 24.0)]
    for a, b in periods:
        cuts.update({a, b, *(h for h in range(math.ceil(a), math.ceil(b)))})
        cuts.update(x for s in profile.surges for x in (s.start_hour, s.end_hour) if a < x < b)
    edges = sorted(cuts)
    out: list[Arrival] = []
    sigma = math.sqrt(math.log(1.0 + profile.service_cv ** 2))
    for m in cfg.matters:
        for lo, hi in itertools.pairwise(edges):
            if not any(a <= lo < b for a, b in periods):
                continue
            hour = 0.0 if profile.steady_hours > 0 else lo
            rate = profile.rate(m.code, hour) / 3600.0
            if rate <= 0:
                continue
            t = lo * 3600.0
            while True:
                t += rng.expovariate(rate)
                if t >= hi * 3600.0:
                    break
                mean = m.expected_minutes * 60.0
                service = (rng.expovariate(1.0 / mean) if profile.exponential_service
                           else rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma))
                floor = profile.patience_floor_minutes * 60.0
                patience = (math.inf if profile.patience_minutes is None
                            else floor + rng.expovariate(
                                1.0 / max(1.0, profile.patience_minutes * 60.0 - floor)))
                out.append(Arrival(t, m.code, m.queue, service, patience,
                                   rng.random() < profile.no_show_prob,
                                   t >= profile.warmup_hours * 3600.0))
    out.sort(key=lambda a: a.at)
    return out


_hours = hhmm_hours


class Simulation:
    """One hall day under one tide policy; ``run()`` returns its DayResult."""

    def __init__(self, cfg: HallConfig, settings: TideSettings, profile: DayProfile,
                 seed: int, tick_seconds: float | None = None, day: str = "2026-11-18"
                 ) -> None:
        self.cfg, self.settings, self.profile, self.seed = cfg, settings, profile, seed
        # the live controller's interval unless a check asks otherwise
        self.tick_seconds = tick_seconds if tick_seconds is not None else settings.interval_seconds
        self.origin = datetime.combine(datetime.fromisoformat(day).date(), time(0),
                                       tzinfo=cfg.tz).timestamp()
        self.arrivals = generate_arrivals(cfg, profile, random.Random(seed))
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
                                tide_windows=tuple(w.number for w in cfg.windows
                                                   if w.kind is WindowKind.TIDE))
        self.now = 0.0
        self.last_busy = 0.0
        self.hall_close = (profile.steady_hours * 3600.0 if profile.steady_hours > 0
                           else hours_of(cfg.hours.periods[-1][1]) * 3600.0)

    # ---- scheduling ---------------------------------------------------------------

    def at(self, when: float, kind: int, payload: object = None) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, payload))

    def abs(self, t: float) -> float:
        return self.origin + t

    def run(self) -> DayResult:
        self._staff_base_windows()
        for i, a in enumerate(self.arrivals):
            self.at(a.at, ARRIVE, i)
        first = self.arrivals[0].at if self.arrivals else 0.0
        self.at(math.floor(first / self.tick_seconds) * self.tick_seconds, TICK)
        self.last_arrival = self.arrivals[-1].at if self.arrivals else 0.0
        handlers = {ARRIVE: self._arrive, START: self._start, FINISH: self._finish,
                    NO_SHOW: self._no_show, ABANDON: self._abandon, TICK: self._tick,
                    READY: self._ready, CONFIRM: self._confirm}
        while self.events:
            when, _, kind, payload = heapq.heappop(self.events)
            self.now = when
            handlers[kind](payload)
        # Windows count as open until the hall closes or the last citizen is done.
        self.now = max(self.last_busy, self.hall_close)
        for n in list(self.opened_at):
            self._closed(n)
        self.result.end = self.now
        return self.result

    def _staff_base_windows(self) -> None:
        start = (0.0 if self.profile.steady_hours > 0 or not self.cfg.hours.periods
                 else hours_of(self.cfg.hours.periods[0][0]) * 3600.0)
        used: set[str] = set()
        clerks = sorted(self.cfg.staff, key=lambda s: len(s.windows))
        for w in self.cfg.windows:
            if w.kind is WindowKind.TIDE:
                continue
            staff = next((s for s in clerks if s.id not in used and s.may_staff(w.number)),
                         None)
            if staff is None:
                continue
            used.add(staff.id)
            self.windows[w.number] = model.login(self.windows[w.number], staff.id,
                                                 self.abs(start)).window
            self.opened_at[w.number] = start

    # ---- citizens -----------------------------------------------------------------

    def _arrive(self, index: object) -> None:
        a = self.arrivals[int(index)]  # type: ignore[call-overload]
        n = self.counters[a.queue] = self.counters.get(a.queue, 0) + 1
        tid = f"t{index}"
        now = self.abs(self.now)
        ticket = Ticket(tid, self.cfg.id, self.day, a.queue, a.matter, Channel.KIOSK, now, now,
                        number=f"{a.queue}{n:03d}")
        self.tickets[tid], self.meta[tid] = ticket, a
        key = rules.order_key(now, False, self.cfg.rules.priority_head_start_minutes)
        heapq.heappush(self.heaps[a.queue], (key, next(self.seq), tid))
        self.rates.observe(a.queue, now)
        self.waiting_count[a.queue] += 1
        if math.isfinite(a.patience_seconds):
            self.at(self.now + a.patience_seconds, ABANDON, tid)
        for number, window in self.windows.items():
            if (window.status is WindowStatus.OPEN and window.current is None
                    and number not in self.arriving and a.queue in self._served(number)):
                self._call_next(number)
                if self.tickets[tid].status is not TicketStatus.WAITING:
                    break

    def _abandon(self, tid: object) -> None:
        ticket = self.tickets[str(tid)]
        if ticket.status is TicketStatus.WAITING:
            self.tickets[ticket.id] = model.cancel(ticket, self.abs(self.now), None).ticket
            self.waiting_count[ticket.queue] -= 1
            self._record(ticket, "abandoned", None)

    def _record(self, ticket: Ticket, outcome: str, window: int | None) -> None:
        a = self.meta[ticket.id]
        self.result.tickets.append(TicketRecord(
            ticket.number, ticket.queue, ticket.matter, a.at, self.now - a.at, outcome,
            window, a.counted))

    # ---- windows ------------------------------------------------------------------

    def _served(self, number: int) -> tuple[str, ...]:
        return served_queues(self.cfg, self.windows[number])

    def _head(self, queue: str) -> rules.Head | None:
        heap = self.heaps[queue]
        while heap and self.tickets[heap[0][2]].status is not TicketStatus.WAITING:
            heapq.heappop(heap)
        return rules.Head(queue, heap[0][2], heap[0][0]) if heap else None

    def _call_next(self, number: int) -> None:
        window = self.windows[number]
        if number in self.arriving:  # the standby clerk is still on the way
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
        if a.no_show:
            self.at(self.now + self.profile.no_show_wait_seconds, NO_SHOW, number)
        else:
            self._record(called, "served", number)
            self.at(self.now + self.profile.walk_seconds, START, number)

    def _current(self, number: int) -> Ticket:
        current = self.windows[number].current
        assert current is not None
        return self.tickets[current]

    def _start(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        ticket = model.start(self._current(n), self.windows[n], self.abs(self.now)).ticket
        self.tickets[ticket.id] = ticket
        self.at(self.now + self.meta[ticket.id].service_seconds, FINISH, n)

    def _finish(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        tr = model.finish(self._current(n), self.windows[n], self.abs(self.now))
        ticket, self.windows[n] = tr.ticket, tr.window
        self.tickets[ticket.id] = ticket
        self.recent[ticket.queue].appendleft(self.meta[ticket.id].service_seconds)
        self._after_ticket(n)

    def _no_show(self, number: object) -> None:
        n = int(number)  # type: ignore[call-overload]
        tr = model.no_show(self._current(n), self.windows[n], self.abs(self.now))
        ticket, self.windows[n] = tr.ticket, tr.window
        self.tickets[ticket.id] = ticket
        self._record(ticket, "no_show", n)
        self._after_ticket(n)

    def _after_ticket(self, n: int) -> None:
        self.last_busy = self.now
        if self.windows[n].status is WindowStatus.CLOSED:
            self._closed(n)
        elif self.windows[n].status is WindowStatus.OPEN:
            self._call_next(n)

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
            head = self._head(letter) if count else None
            waiting[letter] = [head.order_key, *([now] * (count - 1))] if head else []
        load = measure(self.cfg, now, self.windows.values(), waiting, self.rates.per_hour(now),
                       self.recent)
        mode = self.settings.mode
        if mode is not Mode.OFF:
            hour = self.now / 3600.0
            open_now = self.profile.steady_hours > 0 or open_at_hour(self.cfg, hour)
            exclude = dict.fromkeys(self.pending, "pending") if mode is Mode.ADVISE else {}
            for d in assess(self.cfg, self.settings, load, self.memory, hour, exclude,
                            open_now).decisions:
                if mode is Mode.AUTO:
                    self._apply(d)
                else:
                    self.pending[d.window] = d
                    self.result.proposals.append((self.now, d))
                    self.at(self.now + self.profile.confirm_minutes * 60.0, CONFIRM, d.window)
        open_windows = sum(1 for w in self.windows.values() if w.status is not WindowStatus.CLOSED)
        tide_open = sum(1 for n in self.result.tide_windows
                        if self.windows[n].status is not WindowStatus.CLOSED)
        self.result.samples.append(Sample(self.now, {k: len(v) for k, v in waiting.items()},
                                          open_windows, tide_open))
        if self.now < self.last_arrival or load.waiting > 0 or any(
                w.current for w in self.windows.values()):
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
