"""Per-queue and per-hall load from live state: waiting, longest wait, arrival rate, capacity.

Pure: the caller reads the state (from Redis, or the simulator's memory) and passes
it in with ``now``. Windows that serve several queues share their capacity among
them in proportion to each queue's work (people waiting plus recent arrivals, times
service time), so a no-difference window counts as a fraction of a server for each
queue it serves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from hall.config import HallConfig
from ticketing.estimate import queue_services
from ticketing.model import WindowState, WindowStatus
from ticketing.rules import served_queues

BUSY_STATUSES = (WindowStatus.OPEN, WindowStatus.PAUSED)
LONG_FACTOR = 4.0  # the slow rate's smoothing, in multiples of the fast one


@dataclass(frozen=True)
class QueueLoad:
    queue: str
    waiting: int
    longest_wait_seconds: float
    arrivals_per_hour: float  # exponentially smoothed over ``smoothing_minutes``
    service_seconds: float
    servers: float  # open windows' capacity devoted to this queue (fractional)
    predicted_wait_seconds: float  # for someone taking a ticket now
    arrivals_per_hour_long: float = 0.0  # smoothed over LONG_FACTOR x smoothing_minutes

    @property
    def offered_erlangs(self) -> float:
        return self.arrivals_per_hour * self.service_seconds / 3600.0


@dataclass(frozen=True)
class HallLoad:
    at: float
    queues: Mapping[str, QueueLoad]
    windows: Mapping[int, WindowState]
    busy_clerks: frozenset[str]

    def served_queues(self, cfg: HallConfig, number: int) -> tuple[str, ...]:
        window = self.windows.get(number)
        return served_queues(cfg, window) if window is not None else cfg.window_queues(number)

    def is_open(self, number: int) -> bool:
        window = self.windows.get(number)
        return window is not None and window.status in BUSY_STATUSES

    @property
    def waiting(self) -> int:
        return sum(q.waiting for q in self.queues.values())


class ArrivalRates:
    """Exponentially smoothed arrival rates per queue, fed one arrival at a time.

    The live service feeds it from the event stream's ``ticket.issued`` entries and the
    simulator from its arrivals, so both see the same rates. Two smoothings: ``tau`` (the
    fast rate) and ``LONG_FACTOR × tau`` (the slow one). Arrivals must come in time order.
    """

    def __init__(self, queues: Iterable[str], smoothing_minutes: float) -> None:
        self.tau = max(60.0, smoothing_minutes * 60.0)
        self.taus = (self.tau, self.tau * LONG_FACTOR)
        self._sums: dict[str, list[float]] = {q: [0.0, 0.0] for q in queues}
        self._as_of = -math.inf

    def observe(self, queue: str, at: float) -> None:
        """Count one arrival to ``queue`` at ``at`` (unknown queues are ignored)."""
        sums = self._sums.get(queue)
        if sums is None:
            return
        if at > self._as_of:
            self._decay_to(at)
            sums[0] += 1.0
            sums[1] += 1.0
        else:  # same instant or slightly late: weigh it by its age
            for i, tau in enumerate(self.taus):
                sums[i] += math.exp(-(self._as_of - at) / tau)

    def _decay_to(self, at: float) -> None:
        if math.isfinite(self._as_of):
            fast_tau, slow_tau = self.taus
            fast = math.exp(-(at - self._as_of) / fast_tau)
            slow = math.exp(-(at - self._as_of) / slow_tau)
            for sums in self._sums.values():
                sums[0] *= fast
                sums[1] *= slow
        self._as_of = at

    def per_hour(self, now: float) -> dict[str, tuple[float, float]]:
        """The fast and slow rate per queue at ``now`` (arrivals per hour)."""
        dt = max(0.0, now - self._as_of) if math.isfinite(self._as_of) else 0.0
        (fast_tau, slow_tau), out = self.taus, {}
        fast_decay, slow_decay = math.exp(-dt / fast_tau), math.exp(-dt / slow_tau)
        for q, (fast, slow) in self._sums.items():
            out[q] = (fast * fast_decay / fast_tau * 3600.0, slow * slow_decay / slow_tau * 3600.0)
        return out


def measure(
    cfg: HallConfig,
    now: float,
    windows: Iterable[WindowState],
    waiting_since: Mapping[str, Sequence[float]],
    rates: Mapping[str, tuple[float, float]],
    recent_services: Mapping[str, Sequence[float]],
) -> HallLoad:
    """The hall's load now. ``waiting_since`` holds, per queue, when each waiting ticket joined
    (all of them, or at least the oldest ones with the count given by its length); ``rates``
    the fast and slow smoothed arrival rates per queue (``ArrivalRates.per_hour``)."""
    wins = {w.number: w for w in windows}
    known, hall_queues = _parts(cfg)
    services = queue_services(cfg, recent_services)
    no_rates = (0.0, 0.0)
    base: dict[str, tuple[int, float, float, float]] = {}
    work: dict[str, float] = {}  # each queue's pending work (window_shares splits by it)
    for letter, service in services.items():
        since = waiting_since.get(letter, ())
        count = len(since)
        rate = rates.get(letter, no_rates)[0]
        base[letter] = (count, max(0.0, now - min(since)) if since else 0.0, rate, service)
        work[letter] = _work(count, rate, service)
    servers = dict.fromkeys(base, 0.0)
    # windows serving the same queues share alike: count them per queue list, split once
    alike = Counter([served_queues(cfg, window) for number, window in wins.items()
                     if window.status in BUSY_STATUSES and number in known])
    for served, count in alike.items():
        own = hall_queues.get(served)
        if own is None:
            own = hall_queues[served] = tuple(q for q in served if q in base)
        for letter, share in _split(own, work).items():
            servers[letter] += share * count
    loads = {letter: _queue_load(letter, count, longest, rate, service, servers[letter],
                                 predicted_wait(count, service, servers[letter]),
                                 rates.get(letter, no_rates)[1])
             for letter, (count, longest, rate, service) in base.items()}
    busy = frozenset([w.clerk for w in wins.values() if w.clerk is not None])
    return HallLoad(now, loads, wins, busy)


_QUEUE_LOAD_FIELDS = ("queue", "waiting", "longest_wait_seconds", "arrivals_per_hour",
                      "service_seconds", "servers", "predicted_wait_seconds",
                      "arrivals_per_hour_long")
if tuple(f.name for f in fields(QueueLoad)) != _QUEUE_LOAD_FIELDS:  # _queue_load sets them all
    raise TypeError("QueueLoad's fields changed: update _queue_load")


def _queue_load(queue: str, waiting: int, longest: float, rate: float, service: float,
                servers: float, predicted: float, rate_long: float) -> QueueLoad:
    """``QueueLoad(...)`` without the frozen ``__init__``'s eight ``object.__setattr__``:
    ``measure`` makes one per queue on every controller run and simulated tick."""
    load = object.__new__(QueueLoad)
    load.__dict__.update(queue=queue, waiting=waiting, longest_wait_seconds=longest,
                         arrivals_per_hour=rate, service_seconds=service, servers=servers,
                         predicted_wait_seconds=predicted, arrivals_per_hour_long=rate_long)
    return load


_PARTS: dict[int, tuple[HallConfig, frozenset[int], dict[tuple[str, ...], tuple[str, ...]]]] = {}


def _parts(cfg: HallConfig) -> tuple[frozenset[int], dict[tuple[str, ...], tuple[str, ...]]]:
    """The hall's window numbers, and a memo of queue lists filtered to the hall's queues
    (both per hall configuration object: ``measure`` runs every controller interval)."""
    hit = _PARTS.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        if len(_PARTS) > 64:  # configs come and go (the planner's variants): stay small
            _PARTS.clear()
        hit = _PARTS[id(cfg)] = (cfg, frozenset(w.number for w in cfg.windows), {})
    return hit[1], hit[2]


def window_shares(
    served: Sequence[str], base: Mapping[str, tuple[int, float, float, float]]
) -> dict[str, float]:
    """Split one window among the queues it serves by each queue's pending work."""
    return _split(served, {q: _work(base[q][0], base[q][2], base[q][3]) for q in served})


def _work(waiting: int, arrivals_per_hour: float, service_seconds: float) -> float:
    """A queue's pending work: the people waiting and a quarter hour's arrivals, served."""
    return (waiting + arrivals_per_hour * 0.25) * service_seconds


def _split(served: Sequence[str], work: Mapping[str, float]) -> dict[str, float]:
    """``window_shares`` from each queue's ``_work``."""
    if len(served) < 2:  # one queue has the whole window
        return dict.fromkeys(served, 1.0)
    mine = {q: work[q] for q in served}
    total = sum(mine.values())
    if total <= 0:
        return {q: 1.0 / len(served) for q in served}
    return {q: w / total for q, w in mine.items()}


def predicted_wait(waiting: int, service_seconds: float, servers: float) -> float:
    """People ahead share the capacity serving the queue; with none open, assume one opens."""
    return waiting * service_seconds / max(servers, 0.5 if servers > 0 else 1.0)
