"""Estimated wait for a ticket: people ahead, recent service times, windows serving it now.

The people ahead are served by the open windows serving the queue, each counted for the
share of its time the queue gets: a whole window when the queue is its first (or only)
queue, ``LATER_SHARE`` of it when the queue comes further down the window's list (it
favours its first queue by the queue step, ``ticketing.rules``). Idle open windows
call the first people ahead at once; for the rest, the person at the window now is half
done on average, so the wait is ``(ahead - idle + 1/2)`` services over that capacity.
Chosen on the tuning day shapes of ``tide.shapes`` and judged on the others
(``benchmarks/bench_tide.py``; the old "ahead × service / windows" quoted 67 % of judged
tickets within ±max(5 min, 25 %), this 79 %).

When no staffed window (open, or paused for a moment) serves the ticket's queue now,
there is no estimate but a reason (``no_window_open``): a wait of 0 minutes, or one
computed as if a window were about to open, would be a promise nobody made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from math import fsum

from hall.config import HallConfig
from ticketing.model import WindowState, WindowStatus

RESIDUAL = 0.5  # of a service still to run at a busy window when a ticket is issued
LATER_SHARE = 0.5  # of a window for a queue not first on its list (0.4-0.7 tried: 0.5 best)
RECENT_SERVICES = 20  # how many recent service durations a queue remembers
DEFAULT_EXPECTED_MINUTES = 10.0  # a queue with no matter (should not happen) still estimates
NO_WINDOW_OPEN = "no_window_open"
QUOTE_FIELD = "quote"  # the ticket record's field holding the wait quoted at issue (s)


@dataclass(frozen=True)
class Position:
    """Where a waiting ticket stands: people ahead and the expected wait until its call,
    or (``estimated_wait_seconds`` None) the ``reason`` there is none."""

    ahead: int
    estimated_wait_seconds: float | None
    reason: str | None = None


def mean_service_seconds(recent: Sequence[float], expected_minutes: float) -> float:
    """Blend the matter's expected time with what the windows actually took lately.

    With few samples the expectation dominates; with RECENT_SERVICES samples the
    recent mean counts for all but one sample's worth.
    """
    prior = expected_minutes * 60.0
    n = len(recent)
    if not n:
        return prior
    return (prior + fsum(recent) / n * n) / (1 + n)  # fsum / n: statistics.fmean


def queue_service_seconds(cfg: HallConfig, queue: str, recent: Sequence[float]) -> float:
    """A queue's expected service time: its matters' mean expected time blended with ``recent``."""
    return mean_service_seconds(recent, _expected_minutes(cfg, queue))


def queue_services(cfg: HallConfig, recent: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """``queue_service_seconds`` of every queue of the hall, in the hall's order."""
    return {q.letter: queue_service_seconds(cfg, q.letter, recent.get(q.letter, ()))
            for q in cfg.queues}


_PRIORS: dict[int, tuple[HallConfig, dict[str, float]]] = {}


def _expected_minutes(cfg: HallConfig, queue: str) -> float:
    """The mean expected time of the queue's matters (computed once per config object: the
    tide measures every queue on every run and the simulator quotes every ticket)."""
    hit = _PRIORS.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        if len(_PRIORS) > 64:  # configs come and go (the planner's variants): stay small
            _PRIORS.clear()
        by_queue: dict[str, list[float]] = {}
        for m in cfg.matters:
            by_queue.setdefault(m.queue, []).append(m.expected_minutes)
        hit = _PRIORS[id(cfg)] = (cfg, {q: sum(e) / len(e) for q, e in by_queue.items()})
    return hit[1].get(queue, DEFAULT_EXPECTED_MINUTES)


def estimated_wait_seconds(ahead: int, service_seconds: float, windows: int) -> float:
    """Wait until called: the people ahead share the ``windows`` (at least one) serving them."""
    if windows < 1:
        raise ValueError("an estimate needs at least one window serving the queue")
    return ahead * service_seconds / windows


@dataclass(frozen=True)
class Capacity:
    """What the staffed windows serving a queue give it now."""

    open: int  # open windows serving the queue
    paused: int  # paused ones (their clerk still there)
    share: float  # the open windows' capacity for this queue, in whole windows
    idle: int  # open windows with nobody at them, ready to call


def capacity(cfg: HallConfig, queue: str, windows: Iterable[WindowState],
             target_window: int | None = None) -> Capacity:
    """The open / paused staffed windows serving ``queue`` now (tide lending included), or
    only window ``target_window`` for a ticket sent there, and the share they give it."""
    open_now = paused = idle = 0
    share = 0.0
    own = _own_parts(cfg).get(queue, {})
    for w in windows:
        if target_window is not None:
            part: float | None = 1.0 if w.number == target_window else None
        else:
            # the queues it serves now (rules.served_queues): the tide override, else its
            # own list, whose parts are worked out once per hall (_own_parts)
            served = w.queues_override
            part = own.get(w.number) if served is None else _part(served, queue)
        if part is None or w.clerk is None:
            continue
        if w.status is WindowStatus.OPEN:
            open_now += 1
            share += part
            idle += w.current is None
        elif w.status is WindowStatus.PAUSED:
            paused += 1
    return Capacity(open_now, paused, share, idle)


def _part(served: Sequence[str], queue: str) -> float | None:
    """The share of a window serving ``served`` (in call order) that ``queue`` gets, None
    when it does not serve it: whole when first, else ``LATER_SHARE``."""
    if queue not in served:
        return None
    return 1.0 if served[0] == queue else LATER_SHARE


_OWN_PARTS: dict[int, tuple[HallConfig, dict[str, dict[int, float]]]] = {}


def _own_parts(cfg: HallConfig) -> dict[str, dict[int, float]]:
    """Per queue, the windows serving it by their own list (``cfg.window_queues``) and the
    share each gives it (computed once per config object: every ticket issued asks)."""
    hit = _OWN_PARTS.get(id(cfg))
    if hit is None or hit[0] is not cfg:
        if len(_OWN_PARTS) > 64:  # configs come and go (the planner's variants): stay small
            _OWN_PARTS.clear()
        parts: dict[str, dict[int, float]] = {}
        for w in cfg.windows:
            served = cfg.window_queues(w.number)
            for letter in served:
                part = _part(served, letter)
                if part is not None:
                    parts.setdefault(letter, {})[w.number] = part
        hit = _OWN_PARTS[id(cfg)] = (cfg, parts)
    return hit[1]


@dataclass(frozen=True)
class Plan:
    """The estimate as a function of the people ahead, for one queue and one state of its
    windows and recent services: no estimate (``reason``), or 0 while ``ahead < idle`` and
    ``(ahead - idle + residual) * service / divisor`` from there. ``issue.lua`` evaluates
    this same form on the count it takes, so the quote is written in the issue's own step."""

    idle: int = 0
    residual: float = 0.0
    service: float = 0.0
    divisor: float = 1.0
    reason: str | None = None

    def wait(self, ahead: int) -> float | None:
        if self.reason is not None:
            return None
        if ahead < self.idle:
            return 0.0
        return (ahead - self.idle + self.residual) * self.service / self.divisor

    def position(self, ahead: int) -> Position:
        return Position(ahead, self.wait(ahead), self.reason)


def plan(cfg: HallConfig, queue: str, recent: Sequence[float], windows: Iterable[WindowState],
         target_window: int | None = None) -> Plan:
    """How the wait of a ticket of ``queue`` follows from the people ahead (module doc):
    with only paused windows the people ahead share those; no estimate but
    ``no_window_open`` when none is staffed."""
    cap = capacity(cfg, queue, windows, target_window)
    if cap.open + cap.paused == 0:
        return Plan(reason=NO_WINDOW_OPEN)
    service = queue_service_seconds(cfg, queue, recent)
    if cap.open == 0:
        return Plan(0, 0.0, service, float(cap.paused))
    return Plan(cap.idle, RESIDUAL, service, cap.share)


def position(cfg: HallConfig, queue: str, ahead: int, recent: Sequence[float],
             windows: Iterable[WindowState], target_window: int | None = None) -> Position:
    """A waiting ticket's position and expected wait (``plan``)."""
    return plan(cfg, queue, recent, windows, target_window).position(ahead)
