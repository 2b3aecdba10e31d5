"""The ticketing package as an app component: the ticket store, its routes, the roll-up."""

from __future__ import annotations

from typing import Any

from hall.audit_store import AUDIT
from hall.auth.routes import CLERK_WINDOW
from hall.component import Component
from hall.metrics import HallMetrics
from hall.redis_conn import WritePolicy
from hall.services import Key, Services
from hall.streams import per_key
from ticketing import rollup
from ticketing.keys import HallKeys
from ticketing.queries import waiting_from
from ticketing.rating_routes import routes as rating_routes
from ticketing.record_archive import RecordArchive
from ticketing.report_routes import routes as report_routes
from ticketing.routes import routes
from ticketing.store import STORE, TicketStore


def provide(found: Services) -> dict[Key[Any], object]:
    store = TicketStore(found.redis, found.halls, found.clock)
    store.write_policy = WritePolicy.from_settings(found.settings)
    store.observers.append(found.metrics.observe)
    store.audit = found.find(AUDIT)  # every commit and issue records who did it
    store.archive = RecordArchive(found.redis, found.settings.data_dir)  # archived days
    parts: dict[Key[Any], object] = {STORE: store, CLERK_WINDOW: store.clerk_window}
    scheduler = rollup.scheduler_for(found)
    if scheduler is not None:
        parts[rollup.ROLLUP] = scheduler
    return parts


async def start(found: Services) -> None:
    store = found.get(STORE)

    async def gauges(metrics: HallMetrics) -> None:
        """Tickets waiting per queue (read at scrape: the same on every process)."""
        # one script call per 1,000 queues (hall.streams.per_key), not a command each
        values = await per_key(found.redis, "ZCARD", [
            HallKeys(cfg.id).queue(q.letter) for cfg in found.halls.values() for q in cfg.queues])
        offset = 0
        metrics.waiting.clear()  # a province's 20,000 halls: only queues with people
        for cfg in found.halls.values():
            counts = waiting_from(cfg, values[offset: offset + len(cfg.queues)])
            offset += len(cfg.queues)
            for letter, count in counts.items():
                if count or not cfg.template:  # a hall of its own file: every queue
                    metrics.waiting.labels(cfg.id, letter).set(count)
        metrics.unreplicated.set(store.write_policy.unreplicated)

    found.metrics.on_scrape(gauges)
    await rollup.start(found)


component = Component("ticketing", routes=[*routes, *rating_routes, *report_routes],
                      provide=provide, start=start, stop=rollup.stop)
