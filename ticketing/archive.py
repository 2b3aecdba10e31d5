"""The daily archive sweep: RQ jobs (queue ``reports``) that move every hall's closed
audit days (``hall.audit_archiver``) and rolled-up days of ticket records
(``ticketing.record_archiver``) out of Redis into the data folder, and delete archived
files past retention.

``schedule_archive`` is called by the roll-up scheduler's every tick in each app process;
a ``SET NX`` claim per (UTC) day makes one of them enqueue the day's sweep: one job per
``HALLS_PER_JOB`` halls (and the deployment's own trail). The job runs in ``hall worker``,
which shares the data folder with the apps (``HALL_DATA``: the ``hall-data`` volume).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from rq import Queue

from hall.audit_archiver import AuditArchiver
from hall.audit_store import AuditTrail, entry_now
from hall.audit_trail import DEPLOYMENT, audit_day
from hall.config import load_configured_halls
from hall.jobs import REPORTS_QUEUE
from hall.redis_conn import async_client, jobs_client
from hall.settings import Settings
from ticketing.record_archiver import RecordArchiver

log = logging.getLogger("ticketing.archive")
HALLS_PER_JOB = 2_000
CLAIM_SECONDS = 2 * 86400
JOB_SECONDS = 3600
RESULT_SECONDS = 600  # nothing reads the result (as for the roll-up)


def sweep_claim_key(day: str) -> str:
    """The claim of one UTC day's sweep (not a hall's key: one per deployment)."""
    return f"audit:archive:sweep:{day}"


async def archive_job(hall_ids: list[str], now: float) -> dict[str, Any]:
    """RQ job: archive and prune the audit trails of ``hall_ids`` as of ``now``."""
    settings = Settings.from_env()
    halls = load_configured_halls(settings)
    client = async_client(settings)
    try:
        # the scheduler's clock (a soak's simulated one), for the sweep's own audit entry too
        trail = AuditTrail(client, {h: cfg.tz for h, cfg in halls.items()}, lambda: now,
                           data_dir=settings.data_dir)
        swept = await AuditArchiver(trail).sweep(hall_ids, settings.archive_after_days, now)
        records = await RecordArchiver(client, settings.data_dir, halls).sweep(
            hall_ids, settings.archive_after_days, now)
        if records.archived or records.pruned or records.refused:  # audited, as the trail's
            await trail.append(DEPLOYMENT, entry_now(
                now, "records.archive", target=f"{len(hall_ids)} halls",
                result="ok" if not records.refused else "failed:records_archive",
                detail={"archived": records.archived, "pruned": records.pruned,
                        "failed": records.refused}))
    finally:
        await client.aclose()
    return {"halls": len(hall_ids), "archived": swept.archived, "pruned": swept.pruned,
            "failed": swept.refused, "records_archived": records.archived,
            "records_pruned": records.pruned, "records_failed": records.refused}


def enqueue_archive(redis_url: str, hall_ids: list[str], now: float) -> str:
    """Queue one archive job on the reports queue; returns the RQ job id."""
    connection = jobs_client(Settings.from_env(), redis_url or None)
    try:
        job = Queue(REPORTS_QUEUE, connection=connection).enqueue(
            archive_job, hall_ids, now, job_timeout=JOB_SECONDS, result_ttl=RESULT_SECONDS)
        return str(job.id)
    finally:
        connection.close()


async def schedule_archive(client: Redis, halls: Iterable[str], now: float,
                           redis_url: str) -> int:
    """Enqueue today's sweep if no process has (one claim a UTC day); the jobs queued."""
    day = audit_day(now, None)
    if not await client.set(sweep_claim_key(day), "1", nx=True, ex=CLAIM_SECONDS):
        return 0
    every = [*halls, DEPLOYMENT]
    for i in range(0, len(every), HALLS_PER_JOB):
        await asyncio.to_thread(enqueue_archive, redis_url, every[i:i + HALLS_PER_JOB], now)
    log.info("audit archive: %d halls queued for %s", len(every), day)
    return (len(every) + HALLS_PER_JOB - 1) // HALLS_PER_JOB
