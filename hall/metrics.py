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

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from rq import Queue

from hall.events import EventType
from hall.jobs import QUEUES

log = logging.getLogger("hall.events")

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
