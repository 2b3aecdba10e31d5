"""Prometheus metrics of one app process, served at ``/metrics``.

Two kinds of figure, chosen so that they stay right with many app processes:

* **Counters and the wait histogram** are counted by the process that *commits* the
  change (``TicketStore`` observers), so each event is counted exactly once across
  the deployment; Prometheus scrapes every process and ``sum()`` gives the hall's
  total (``sum by (hall, queue) (rate(hall_tickets_issued_total[5m]))``).
* **Gauges of shared state** (tickets waiting, RQ queue depth) are read from Redis
  at scrape time, so every process reports the same value: use ``max()`` over
  instances, not ``sum()``.
* **Per-process gauges** (websocket clients, hub event lag) belong to the process
  that holds the sockets: ``sum()`` for clients, ``max()`` for lag.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import sys
import threading
import time
import traceback
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from rq import Queue

from hall.events import EventType
from hall.jobs import QUEUES

log = logging.getLogger("hall.events")

LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
WAIT_BUCKETS = (30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800)
RQ_QUEUE_PREFIX = Queue.redis_queue_namespace_prefix  # "rq:queue:", or "{rq}:queue:" on a cluster
ScrapeHook = Callable[["HallMetrics"], Awaitable[None] | None]


class HallMetrics:
    """The metric families of one process, in their own registry (one per app)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.issued = Counter("hall_tickets_issued", "Tickets issued (counted by the committing "
                              "process)", ["hall", "queue", "channel"], registry=r)
        self.called = Counter("hall_tickets_called", "First calls and calls after a transfer or "
                              "re-join", ["hall", "queue"], registry=r)
        self.served = Counter("hall_tickets_served", "Services finished", ["hall", "queue"],
                              registry=r)
        self.no_show = Counter("hall_tickets_no_show", "Tickets marked no-show",
                               ["hall", "queue"], registry=r)
        self.events = Counter("hall_events_committed", "Events committed to the hall stream by "
                              "this process", ["hall", "type"], registry=r)
        self.tide = Counter("hall_tide_decisions", "Tide decisions and overrides committed",
                            ["hall", "type"], registry=r)
        self.wait = Histogram("hall_wait_seconds", "Wait from joining a queue to being called",
                              ["hall", "queue"], buckets=WAIT_BUCKETS, registry=r)
        self.waiting = Gauge("hall_waiting_tickets", "Tickets waiting now (read from Redis at "
                             "scrape; same on every process)", ["hall", "queue"], registry=r)
        self.rq_depth = Gauge("hall_rq_queue_depth", "Jobs waiting in an RQ queue (read from "
                              "Redis at scrape)", ["queue"], registry=r)
        self.ws_clients = Gauge("hall_websocket_clients", "Websocket clients of this process",
                                ["hall"], registry=r)
        self.hub_lag = Gauge("hall_hub_event_lag_seconds", "Worst delay, over halls, between an "
                             "event being written and the hub of this process reading it",
                             registry=r)
        self.redis_up = Gauge("hall_redis_up", "1 when Redis answered the last scrape",
                              registry=r)
        self.unreplicated = Gauge("hall_redis_unreplicated_writes", "Writes accepted with no "
                                  "replica connected (REDIS_WAIT_REPLICAS degraded)", registry=r)
        self.loop_lag = Histogram("hall_event_loop_lag_seconds", "How late the event loop ran "
                                  "a timer (a request waits as long behind whatever held the "
                                  "loop)", buckets=LAG_BUCKETS, registry=r)
        self.gc_pause = Histogram("hall_gc_pause_seconds", "Pauses of the garbage collector",
                                  ["generation"], buckets=LAG_BUCKETS, registry=r)
        self.scrape_hooks: list[ScrapeHook] = []

    def observe(self, hall: str, event: EventType, data: dict[str, Any]) -> None:
        """Count one committed event and log it as one line with its hall and ticket."""
        try:
            self._observe(hall, event, data)
        except Exception:  # the change is committed: a metrics fault must not fail it
            log.exception("metrics: could not count %s", event.value)

    def _observe(self, hall: str, event: EventType, data: dict[str, Any]) -> None:
        self.events.labels(hall, event.value).inc()
        ticket = data.get("ticket") or {}
        queue = str(ticket.get("queue", ""))
        if event is EventType.TICKET_ISSUED:
            self.issued.labels(hall, queue, str(ticket.get("channel", ""))).inc()
        elif event is EventType.TICKET_CALLED:
            self.called.labels(hall, queue).inc()
            called_at, joined = ticket.get("called_at"), ticket.get("enqueued_at")
            if isinstance(called_at, int | float) and isinstance(joined, int | float):
                self.wait.labels(hall, queue).observe(max(0.0, called_at - joined))
        elif event is EventType.TICKET_DONE:
            self.served.labels(hall, queue).inc()
        elif event is EventType.TICKET_NO_SHOW:
            self.no_show.labels(hall, queue).inc()
        elif event in (EventType.TIDE_DECISION, EventType.TIDE_OVERRIDE):
            self.tide.labels(hall, event.value).inc()
        extra: dict[str, Any] = {"hall": hall, "event": event.value}
        if ticket:
            extra.update(ticket=ticket.get("number"), queue=queue or None,
                         window=ticket.get("window"))
        log.info(event.value, extra=extra)

    def on_scrape(self, hook: ScrapeHook) -> None:
        """Run ``hook(metrics)`` before each scrape (a part sets the gauges it owns)."""
        self.scrape_hooks.append(hook)

    async def refresh(self, redis: Redis) -> None:
        """Read the shared gauges from Redis and run the parts' scrape hooks."""
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for name in QUEUES:
                    pipe.llen(RQ_QUEUE_PREFIX + name)
                values = iter(await pipe.execute())
            for name in QUEUES:
                self.rq_depth.labels(name).set(int(next(values)))
            self.redis_up.set(1)
        except Exception as exc:  # a scrape must answer even when Redis does not
            log.warning("metrics: redis unavailable: %s", exc)
            self.redis_up.set(0)
            return
        for hook in self.scrape_hooks:
            try:
                result = hook(self)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.warning("metrics: scrape hook failed: %s", exc)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


stalls = logging.getLogger("hall.stalls")
LAG_LOG_MS = 50.0  # a late timer is logged from this (a busy machine makes many short ones)


class LoopMonitor:
    """Event-loop lag and garbage-collector pauses of this process, measured all the time.

    A timer due every ``interval`` seconds records how late it ran
    (``hall_event_loop_lag_seconds``: a request queued behind whatever held the loop waits
    as long), and ``gc.callbacks`` time every collection (``hall_gc_pause_seconds``). A
    stall of ``log_ms`` or more is logged on ``hall.stalls`` with its start time (epoch
    seconds) and the CPU the loop's thread spent meanwhile (a busy machine stretches a
    stall's wall time; its CPU time is the work that held the loop), so slow requests can
    be matched to it. With ``trace=True`` a watchdog thread
    also samples the main thread's stack while the loop is held, and the log line names
    the code that held it (the samples cost nothing while the loop keeps its beat).
    """

    def __init__(self, metrics: HallMetrics, *, interval: float = 0.02,
                 log_ms: float = 50.0, trace: bool = False) -> None:
        self.metrics, self.interval, self.log_ms, self.trace = metrics, interval, log_ms, trace
        self._handle: asyncio.TimerHandle | None = None
        self._gc_started = self._gc_cpu = 0.0
        self._gc_log: list[tuple[int, float, float]] = []  # (generation, seconds, CPU seconds)
        self._beat = time.monotonic()
        self._cpu = time.thread_time()  # this thread's CPU seconds at the last tick
        self._samples: Tally[str] = Tally()
        self._stop = threading.Event()
        self._main = threading.get_ident()
        self._lock = threading.Lock()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._beat, self._cpu = time.monotonic(), time.thread_time()
        self._handle = loop.call_at(loop.time() + self.interval, self._tick,
                                    loop.time() + self.interval)
        gc.callbacks.append(self._on_gc)
        if self.trace:
            self._main = threading.get_ident()
            threading.Thread(target=self._watch, name="hall-loop-watchdog", daemon=True).start()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._stop.set()

    def _tick(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        lag = max(0.0, now - due)
        self.metrics.loop_lag.observe(lag)
        cpu = time.thread_time()
        used, self._cpu = cpu - self._cpu, cpu
        self._beat = time.monotonic()
        # held by work (CPU spent without the timer running: ``log_ms``) or kept waiting
        # (the machine's other processes, a blocking call: 50 ms): both delay requests
        if (used - self.interval) * 1000 >= self.log_ms or lag * 1000 >= max(self.log_ms,
                                                                              LAG_LOG_MS):
            self._log_stall(lag, used)
        else:
            self._gc_log.clear()
            if self.trace and self._samples:
                with self._lock:
                    self._samples.clear()
        self._handle = loop.call_at(now + self.interval, self._tick, now + self.interval)

    def _log_stall(self, lag: float, cpu: float) -> None:
        """``cpu``: this thread's CPU seconds since the last tick (on a busy machine the
        wall time a stall took can be far more than the work that held the loop)."""
        held = max(lag + self.interval, cpu)
        collections = ", ".join(f"gen{g} {s * 1000:.0f} ms ({c * 1000:.0f} CPU)"
                                for g, s, c in self._gc_log)
        self._gc_log.clear()
        with self._lock:
            samples, self._samples = self._samples, Tally()
        where = " | ".join(f"{n}x {stack}" for stack, n in samples.most_common(3))
        stalls.warning("event loop held %.0f ms from %.3f, %.0f ms CPU; gc: %s; stacks: %s",
                       held * 1000, time.time() - held, cpu * 1000, collections or "none",
                       where or "not traced")

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started, self._gc_cpu = time.perf_counter(), time.thread_time()
            return
        took = time.perf_counter() - self._gc_started
        generation = int(info.get("generation", 0))
        self.metrics.gc_pause.labels(str(generation)).observe(took)
        if took * 1000 >= 1.0:
            self._gc_log.append((generation, took, time.thread_time() - self._gc_cpu))

    def _watch(self) -> None:
        """Sample the main thread's stack while the loop misses its beat, whether it is
        held by work (its CPU clock runs) or kept waiting."""
        period = self.log_ms / 4000
        cpu_clock = getattr(time, "pthread_getcpuclockid", None)  # Linux; else late only
        clock = cpu_clock(self._main) if cpu_clock is not None else None
        while not self._stop.wait(period):
            beat, cpu = self._beat, self._cpu
            late = time.monotonic() - beat >= self.interval + self.log_ms / 2000
            busy = clock is not None and (time.clock_gettime(clock) - cpu
                                          >= self.interval + self.log_ms / 2000)
            if not (late or busy):
                continue
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame, limit=40)
            text = " < ".join(f"{'/'.join(f.filename.rsplit('/', 2)[-2:])}:{f.lineno} {f.name}"
                              for f in reversed(stack[-12:]))
            with self._lock:
                self._samples[text] += 1
