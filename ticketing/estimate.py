"""Estimated wait for a ticket: people ahead, recent service times, windows serving it now.

When no staffed window (open, or paused for a moment) serves the ticket's queue now,
there is no estimate but a reason (``no_window_open``): a wait of 0 minutes, or one
computed as if a window were about to open, would be a promise nobody made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean

from hall.config import HallConfig
from ticketing import rules
from ticketing.model import WindowState, WindowStatus

RECENT_SERVICES = 20  # how many recent service durations a queue remembers
DEFAULT_EXPECTED_MINUTES = 10.0  # a queue with no matter (should not happen) still estimates
NO_WINDOW_OPEN = "no_window_open"


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
    if not recent:
        return prior
    return (prior + fmean(recent) * len(recent)) / (1 + len(recent))


def queue_service_seconds(cfg: HallConfig, queue: str, recent: Sequence[float]) -> float:
    """A queue's expected service time: its matters' mean expected time blended with ``recent``."""
    expected = [m.expected_minutes for m in cfg.matters if m.queue == queue]
    prior = sum(expected) / len(expected) if expected else DEFAULT_EXPECTED_MINUTES
    return mean_service_seconds(recent, prior)


def estimated_wait_seconds(ahead: int, service_seconds: float, windows: int) -> float:
    """Wait until called: the people ahead share the ``windows`` (at least one) serving them."""
    if windows < 1:
        raise ValueError("an estimate needs at least one window serving the queue")
    return ahead * service_seconds / windows


def serving_windows(cfg: HallConfig, queue: str, windows: Iterable[WindowState],
                    target_window: int | None = None) -> tuple[int, int]:
    """(open, paused) staffed windows that serve ``queue`` now (tide lending included),
    or only window ``target_window`` for a ticket sent there."""
    open_now = paused = 0
    for w in windows:
        if target_window is not None:
            serves = w.number == target_window
        else:
            serves = queue in rules.served_queues(cfg, w)
        if not serves or w.clerk is None:
            continue
        if w.status is WindowStatus.OPEN:
            open_now += 1
        elif w.status is WindowStatus.PAUSED:
            paused += 1
    return open_now, paused


def position(cfg: HallConfig, queue: str, ahead: int, recent: Sequence[float],
             windows: Iterable[WindowState], target_window: int | None = None) -> Position:
    """A waiting ticket's position: people ahead share the open windows serving its queue
    (paused ones when none is open); no estimate but ``no_window_open`` when none is staffed."""
    open_now, paused = serving_windows(cfg, queue, windows, target_window)
    if open_now + paused == 0:
        return Position(ahead, None, NO_WINDOW_OPEN)
    service = queue_service_seconds(cfg, queue, recent)
    return Position(ahead, estimated_wait_seconds(ahead, service, open_now or paused))
