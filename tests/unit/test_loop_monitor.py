"""hall.metrics.LoopMonitor: event-loop stalls and GC pauses, measured and named."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import Callable

import pytest

from hall.metrics import HallMetrics, LoopMonitor


def _count(metrics: HallMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)


def hold_the_loop(seconds: float, until: Callable[[], bool] = lambda: True) -> None:
    """Work that never yields, as a blocking call in a handler would: ``seconds`` of CPU,
    then on until ``until()`` holds (at most 5 s more)."""
    done = time.thread_time() + seconds
    deadline = time.monotonic() + seconds + 5.0
    while time.thread_time() < done or (not until() and time.monotonic() < deadline):
        pass


async def _until(check: object, deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "not seen before the deadline"
        await asyncio.sleep(0.01)


def _held(records: list[logging.LogRecord]) -> list[tuple[int, int, str]]:
    """(wall ms, CPU ms, line) of every stall line logged."""
    out = []
    for r in records:
        found = STALL.search(r.getMessage())
        if found:
            out.append((int(found.group(1)), int(found.group(2)), r.getMessage()))
    return out


STALL = re.compile(r"event loop held (\d+) ms from [\d.]+, (\d+) ms CPU")


async def test_a_held_loop_is_logged_with_its_cpu_and_the_code_that_held_it(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics = HallMetrics()
    monitor = LoopMonitor(metrics, interval=0.01, log_ms=40, trace=True)
    caplog.set_level(logging.WARNING, logger="hall.stalls")
    monitor.start()
    try:
        await asyncio.sleep(0.05)
        # at least 150 ms, and on a busy machine until the watchdog thread has had its turn
        # (a sample), at most 5 s
        hold_the_loop(0.15, until=lambda: bool(monitor._samples))
        # a busy machine may add lines of its own (late, with little CPU): find the hold's
        await _until(lambda: any(cpu >= 140 for _, cpu, _ in _held(caplog.records)))
    finally:
        monitor.stop()
    held, _, line = next(x for x in _held(caplog.records) if x[1] >= 140)
    assert held >= 140  # the work's own CPU counts, whatever the machine's load
    assert "hold_the_loop" in line  # the watchdog named the code that held the loop
    assert _count(metrics, "hall_event_loop_lag_seconds_bucket", le="0.1") < \
        _count(metrics, "hall_event_loop_lag_seconds_count")


async def test_a_loop_that_keeps_its_beat_logs_no_hold(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics = HallMetrics()
    monitor = LoopMonitor(metrics, interval=0.01, log_ms=200, trace=True)
    caplog.set_level(logging.WARNING, logger="hall.stalls")
    monitor.start()
    try:
        await _until(lambda: _count(metrics, "hall_event_loop_lag_seconds_count") >= 10)
    finally:
        monitor.stop()
    # nothing held it (a busy machine may still make a timer late: not a hold)
    assert not [x for x in _held(caplog.records) if x[1] >= 100]


async def test_collections_are_timed_by_generation() -> None:
    metrics = HallMetrics()
    monitor = LoopMonitor(metrics)
    monitor.start()
    try:
        gc.collect()
    finally:
        monitor.stop()
    counted = _count(metrics, "hall_gc_pause_seconds_count", generation="2")
    assert counted >= 1
    gc.collect()  # stopped: no longer counted
    assert _count(metrics, "hall_gc_pause_seconds_count", generation="2") == counted
