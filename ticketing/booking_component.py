"""Appointments as an app component: the booking store and API, the no-show sweep with the
day-before reminders, the notices after calls (with an RQ queue: REDIS_URL or Sentinel),
and the calendar's refusal of walk-ins outside opening hours (unless ``HALL_ALWAYS_OPEN``).

The identity secret (``HALL_IDENTITY_SECRET``) keys the hash of ID numbers; without it a
random one is kept in the data folder (``identity.secret``, mode 0600), which is fine for
one machine; app processes on several machines must share it through the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from hall.calendar import local_day
from hall.component import Component
from hall.services import Key, Services
from hall.streams import noted_since
from ticketing.appointments import (
    APPOINTMENTS,
    BOOKED_HALLS,
    AppointmentKeys,
    AppointmentStore,
)
from ticketing.booking_notices import BookingNotices
from ticketing.booking_routes import routes
from ticketing.notify import Notifier
from ticketing.store import STORE

NOTICES: Key[BookingNotices] = Key("ticketing.booking_notices")

log = logging.getLogger("ticketing.appointments")
SWEEP_SECONDS = 60.0
PIPELINE_HALLS = 100  # a round trip builds ~100 EXISTS: the loop is held ~4 ms, not ~20
FULL_EVERY = 60  # sweeps between two looks at every hall (bookings made before appt:halls)
SWEPT_DAYS = 3  # a booking's hall is swept until its slot start is this many days past


def identity_secret(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / "identity.secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def provide(found: Services) -> dict[Key[Any], object]:
    tickets = found.get(STORE)
    tickets.hours_enforced = not found.settings.always_open
    secret = identity_secret(found.settings.identity_secret, Path(found.settings.data_dir))
    store = AppointmentStore(found.redis, tickets, found.clock, secret)
    parts: dict[Key[Any], object] = {APPOINTMENTS: store}
    queue = found.settings.external_redis  # an RQ queue to send on
    notices = BookingNotices(store, Notifier(found.redis, found.settings) if queue else None)
    tickets.observers.append(notices.observe)
    parts[NOTICES] = notices
    return parts


_tasks: dict[int, asyncio.Task[None]] = {}


async def halls_with_bookings(store: AppointmentStore) -> list[str]:
    """The halls with a booking on a day the sweep looks at (two days back to two ahead),
    from every hall's day keys: the sweep's hourly safety net, and the halls of bookings
    made before ``appt:halls``. One pipelined EXISTS per hall, ``PIPELINE_HALLS`` halls a
    round trip: 200 round trips for a province of 20,000 halls, not 100,000."""
    now = store.clock()
    halls = list(store.tickets.halls.values())
    out: list[str] = []
    # the five days once per time zone: local_day caches one day per zone, and asking it
    # for five in turn over 20,000 halls held the event loop ~1 s a minute
    days: dict[str, list[str]] = {}
    for i in range(0, len(halls), PIPELINE_HALLS):
        chunk = halls[i:i + PIPELINE_HALLS]
        async with store.redis.pipeline(transaction=False) as pipe:
            for cfg in chunk:
                keys = AppointmentKeys(cfg.id)
                around = days.get(cfg.tz.key)
                if around is None:
                    around = days[cfg.tz.key] = [local_day(now + k * 86400, cfg.tz)
                                                 for k in range(-2, 3)]
                pipe.exists(*[keys.day(day) for day in around])
            found = await pipe.execute()
        out.extend(cfg.id for cfg, n in zip(chunk, found, strict=True) if n)
    return out


async def booked_halls(store: AppointmentStore) -> list[str]:
    """The halls noted in ``appt:halls`` (before each booking) with a slot start within
    ``SWEPT_DAYS`` or later; older notes are dropped. One round trip, however many halls."""
    noted = await noted_since(store.redis, BOOKED_HALLS, store.clock() - SWEPT_DAYS * 86400)
    return [h for h in noted if h in store.tickets.halls]


async def _sweep(store: AppointmentStore, notices: BookingNotices | None) -> None:
    sweeps = 0
    while True:
        await asyncio.sleep(SWEEP_SECONDS)
        sweeps += 1
        try:
            booked = await booked_halls(store)
            if sweeps % FULL_EVERY == 1 % FULL_EVERY:  # the first sweep, then every hour
                booked = sorted({*booked, *await halls_with_bookings(store)})
        except Exception:  # the next round retries
            log.exception("looking for halls with bookings failed")
            continue
        for hall_id in booked:
            try:
                await store.sweep_no_shows(hall_id)
                if notices is not None:
                    await notices.reminders(hall_id)
            except Exception:  # keep sweeping; the next round retries
                log.exception("no-show sweep of hall %s failed", hall_id)


async def start(found: Services) -> None:
    store = found.get(APPOINTMENTS)
    _tasks[id(store)] = asyncio.create_task(_sweep(store, found.find(NOTICES)))


async def stop(found: Services) -> None:
    task = _tasks.pop(id(found.get(APPOINTMENTS)), None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


component = Component("appointments", routes=list(routes), provide=provide, start=start,
                      stop=stop)
