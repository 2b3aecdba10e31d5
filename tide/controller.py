"""The tide controller loop: for each hall it leads, run the policy every ``interval_seconds``.

Exactly one controller leads a hall however many app processes run: the lock is
``SET hall:{h}:tide:leader <token> NX PX <ms>``, renewed on every step by a script
that extends it only while it still holds this process's token. When the leader
dies its lock expires and another process takes over on its next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from redis.asyncio import Redis

from hall.config import HallConfig, WindowKind
from hall.services import Key
from tide.keys import TideKeys
from tide.service import TideService
from tide.settings import TideSettings

log = logging.getLogger("tide")

RENEW = """
-- KEYS[1] leader key; ARGV[1] this controller's token, ARGV[2] lock time (ms)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
-- KEYS[1] leader key; ARGV[1] this controller's token
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


HEARTBEAT_SECONDS = 5.0  # how often the lead is taken or renewed


def has_tide_work(cfg: HallConfig, settings: TideSettings) -> bool:
    """A hall the policy can act on: it has a tide window, or lends and has a lendable one.
    Other halls get no leader lock and no policy run (most village stations)."""
    return any(w.kind is WindowKind.TIDE or (settings.lend and w.lendable)
               for w in cfg.windows)


class TideController:
    """Renews each hall's lead every ``HEARTBEAT_SECONDS`` (the lock lasts three of them) and
    runs a led hall's policy every ``interval_seconds`` of its ``[tide]`` table, the interval
    the simulator's controller uses too."""

    def __init__(self, redis: Redis, service: TideService, interval_seconds: float | None = None,
                 lock_ms: int | None = None) -> None:
        self.redis, self.service = redis, service
        self.halls = {h: s for h, s in service.settings.items()
                      if h in service.store.halls and has_tide_work(service.store.halls[h], s)}
        intervals = [s.interval_seconds for s in self.halls.values()] or [HEARTBEAT_SECONDS]
        self.interval = min(HEARTBEAT_SECONDS, *intervals) if interval_seconds is None \
            else interval_seconds
        self.lock_ms = lock_ms if lock_ms is not None else int(self.interval * 3000)
        self._last_run: dict[str, float] = {}
        self.token = secrets.token_hex(12)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._task: asyncio.Task[None] | None = None

    async def lead(self, hall_id: str) -> bool:
        """Take or keep the hall's leader lock; True while this controller holds it."""
        key = TideKeys(hall_id).leader
        if await self.redis.set(key, self.token, nx=True, px=self.lock_ms):
            log.info("tide controller %s now leads hall %s", self.token[:6], hall_id)
            return True
        return bool(await self._renew(keys=[key], args=[self.token, self.lock_ms]))

    async def step(self) -> dict[str, bool]:
        """One round over the halls with tide work; returns which of them this controller led."""
        led: dict[str, bool] = {}
        for hall_id, settings in self.halls.items():
            led[hall_id] = await self.lead(hall_id)
            if not led[hall_id]:
                self._last_run.pop(hall_id, None)  # on taking the lead, run at once
                continue
            now = self.service.store.clock()
            last = self._last_run.get(hall_id)
            if last is not None and now - last < settings.interval_seconds - 1e-6:
                continue
            self._last_run[hall_id] = now
            try:
                await self.service.run_policy(hall_id)
            except Exception:  # one hall's trouble must not stop the others
                log.exception("tide step failed for hall %s", hall_id)
        return led

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tide controller step failed")

    def start(self) -> None:
        """Start the loop, unless no hall has tide work (then the process runs none)."""
        if self.halls:
            self._task = asyncio.create_task(self.run(), name="tide-controller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for hall_id in self.halls:
            with contextlib.suppress(Exception):
                await self._release(keys=[TideKeys(hall_id).leader], args=[self.token])


CONTROLLER: Key[TideController] = Key("tide.controller")
