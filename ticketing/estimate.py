"""Estimated wait for a ticket: people ahead, recent service times, windows open now."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

RECENT_SERVICES = 20  # how many recent service durations a queue remembers


def mean_service_seconds(recent: Sequence[float], expected_minutes: float) -> float:
    """Blend the matter's expected time with what the windows actually took lately.

    With few samples the expectation dominates; with RECENT_SERVICES samples the
    recent mean counts for all but one sample's worth.
    """
    prior = expected_minutes * 60.0
    if not recent:
        return prior
    return (prior + fmean(recent) * len(recent)) / (1 + len(recent))


def estimated_wait_seconds(
    ahead: int, service_seconds: float, open_windows: int, closed_fallback_windows: int = 1
) -> float:
    """Wait until called: the people ahead share the open windows serving this queue.

    With no window open now we assume ``closed_fallback_windows`` will open, so the
    estimate stays finite and honest about the queue length.
    """
    windows = open_windows if open_windows > 0 else max(1, closed_fallback_windows)
    return ahead * service_seconds / windows
