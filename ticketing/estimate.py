"""Estimated wait for a ticket: people ahead, recent service times, windows open now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from hall.config import HallConfig

RECENT_SERVICES = 20  # how many recent service durations a queue remembers
DEFAULT_EXPECTED_MINUTES = 10.0  # a queue with no matter (should not happen) still estimates


@dataclass(frozen=True)
class Position:
    """Where a waiting ticket stands: people ahead and the expected wait until its call."""

    ahead: int
    estimated_wait_seconds: float


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


def estimated_wait_seconds(
    ahead: int, service_seconds: float, open_windows: int, closed_fallback_windows: int = 1
) -> float:
    """Wait until called: the people ahead share the open windows serving this queue.

    With no window open now we assume ``closed_fallback_windows`` will open, so the
    estimate stays finite and honest about the queue length.
    """
    windows = open_windows if open_windows > 0 else max(1, closed_fallback_windows)
    return ahead * service_seconds / windows


def position(cfg: HallConfig, queue: str, ahead: int, recent: Sequence[float],
             open_windows: int) -> Position:
    """A ticket's position from the people ahead, the queue's recent services and open windows."""
    service = queue_service_seconds(cfg, queue, recent)
    return Position(ahead, estimated_wait_seconds(ahead, service, open_windows))
