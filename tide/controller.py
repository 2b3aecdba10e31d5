"""The tide controller loop: for each hall it leads, run the policy every ``interval_seconds``.

Exactly one controller leads a hall however many app processes run: the lock is
``SET hall:{h}:tide:leader <token> NX PX <ms>``, renewed on every step by a script
that extends it only while it still holds this process's token. When the leader
dies its lock expires and another process takes over on its next step.

Leads are spread over processes: each controller beats in ``tide:controllers`` (a
sorted set of live controllers), takes free leads only up to its share (halls ÷ live
controllers, rounded up) and hands back what it holds beyond its share and a small slack,
so a province's 1,500 tide halls are run by every process, not the first one started.
Leads are taken and renewed by scripts over many leader keys (one call per 500 halls), and the first
step at start takes leads only: policies run from the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from typing import Any

from redis.asyncio import Redis

from hall.config import HallConfig
from hall.services import Key
from hall.streams import batches, per_key
from hall.text import as_str
from ticketing.keys import HallKeys
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


RENEW_MANY = """
-- KEYS: leader keys; ARGV[1] this controller's token, ARGV[2] lock time (ms); 1 = kept
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then out[i] = redis.call('PEXPIRE', key, ARGV[2])
  else out[i] = 0 end
end
return out
"""

TAKE_MANY = """
-- KEYS: leader keys; ARGV[1] this controller's token, ARGV[2] lock time (ms); 1 = taken
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
end
return out
"""

RELEASE_MANY = """
-- KEYS: leader keys; ARGV[1] this controller's token; 1 = released
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then out[i] = redis.call('DEL', key) else out[i] = 0 end
end
return out
"""

LAST_IDS = """
-- KEYS: hall event streams; the id of each one's newest entry ('' for none)
local out = {}
for i, key in ipairs(KEYS) do
  local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  out[i] = newest[1] and newest[1][1] or ''
end
return out
"""

HEARTBEAT_SECONDS = 5.0  # how often the lead is taken or renewed
CONTROLLERS = "tide:controllers"  # live controllers: token → time of their last beat
PIPELINE = 500  # halls per pipelined round trip


def has_tide_work(cfg: HallConfig, settings: TideSettings) -> bool:
    """A hall the policy can act on: it has a tide window, or lends and has a lendable one.
    Other halls get no leader lock and no policy run (most village stations)."""
    return bool(cfg.tide_windows or (settings.lend and cfg.lendable_windows))


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
        self._held: dict[str, bool] = {}
        self._orphans: set[str] = set()
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

    async def share(self) -> int:
        """Beat in the registry; this controller's share of the halls (live ones counted)."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(CONTROLLERS, {self.token: now})
            pipe.zremrangebyscore(CONTROLLERS, "-inf", now - 3 * HEARTBEAT_SECONDS)
            pipe.zcard(CONTROLLERS)
            live = (await pipe.execute())[2]
        return math.ceil(len(self.halls) / max(1, int(live)))

    async def lead_all(self) -> dict[str, bool]:
        """Renew the leads held, hand back those beyond the share, take free ones up to it."""
        share = await self.share()
        held = [h for h in self.halls if self._held.get(h)]
        for h, ok in zip(held, await self._renew_all(held), strict=True):
            self._held[h] = bool(ok)
        holding = [h for h in held if self._held[h]]
        if len(holding) > share + max(1, share // 10):
            extra = holding[share:]
            await self._release_all(extra)
            for h in extra:
                self._held[h] = False
            log.info("tide controller %s handed back %d leads", self.token[:6], len(extra))
        free = [h for h in self.halls if not self._held.get(h)]
        random.shuffle(free)  # controllers starting together reach for different halls
        room = share - sum(1 for h in self.halls if self._held.get(h))
        while room > 0 and free:
            batch, free = free[:room], free[room:]
            for h, ok in zip(batch, await self._take_all(batch), strict=True):
                self._held[h] = bool(ok)
                room -= bool(ok)
        await self._adopt_orphans(free)
        return {h: bool(self._held.get(h)) for h in self.halls}

    async def _adopt_orphans(self, untried: list[str]) -> None:
        """A lead left free for a whole step (its leader died, the others are full) is
        taken whatever the share: every hall with tide work keeps a leader."""
        if not untried:
            self._orphans = set()
            return
        exists = await per_key(self.redis, "EXISTS", [TideKeys(h).leader for h in untried])
        free = [h for h, e in zip(untried, exists, strict=True) if not e]
        again = [h for h in free if h in self._orphans]
        for h, ok in zip(again, await self._take_all(again), strict=True):
            self._held[h] = bool(ok)
        self._orphans = {h for h in free if not self._held.get(h)}

    async def _renew_all(self, halls: list[str]) -> list[int]:
        return await self._each(halls, RENEW_MANY, self.token, self.lock_ms)

    async def _take_all(self, halls: list[str]) -> list[int]:
        return await self._each(halls, TAKE_MANY, self.token, self.lock_ms)

    async def _release_all(self, halls: list[str]) -> list[int]:
        return await self._each(halls, RELEASE_MANY, self.token)

    async def _each(self, halls: list[str], script: str, *args: Any) -> list[int]:
        """``script`` over the halls' leader keys, one call per ``PIPELINE`` keys (per slot
        on a cluster): 1,500 halls' leads cost a few calls, not 1,500 commands whose
        packing held the event loop for a quarter of a second every heartbeat."""
        keys = [TideKeys(h).leader for h in halls]
        out: dict[str, int] = {}
        for group in batches(self.redis, keys, PIPELINE):
            replies = await self.redis.eval(script, len(group), *group, *args)
            out.update(zip(group, (int(r or 0) for r in replies), strict=True))
        return [out[k] for k in keys]

    async def last_ids(self, halls: list[str]) -> dict[str, str]:
        """The id of each hall's newest stream entry, one script call per ``PIPELINE``
        streams (per slot on a cluster)."""
        keys = {HallKeys(h).events: h for h in halls}
        out: dict[str, str] = {}
        for group in batches(self.redis, keys, PIPELINE):
            replies = await self.redis.eval(LAST_IDS, len(group), *group)
            out.update((keys[k], as_str(r)) for k, r in zip(group, replies, strict=True))
        return out

    async def step(self, run_policies: bool = True) -> dict[str, bool]:
        """One round over the halls with tide work; returns which of them this controller led.

        The due halls' newest stream ids are read first (one call for hundreds of halls):
        a hall with no new entry since its last run is assessed again on the same reads
        (``TideService.run_policy``), at the new time."""
        led = await self.lead_all()
        due: list[str] = []
        for hall_id, settings in self.halls.items():
            if not led[hall_id]:
                self._last_run.pop(hall_id, None)  # on taking the lead, run at once
                continue
            if not run_policies:
                continue
            now = self.service.store.clock()
            last = self._last_run.get(hall_id)
            if last is not None and now - last < settings.interval_seconds - 1e-6:
                continue
            self._last_run[hall_id] = now
            due.append(hall_id)
        stream_last = await self.last_ids(due) if due else {}
        for hall_id in due:
            try:
                await self.service.run_policy(hall_id, stream_last[hall_id])
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
        held = [h for h in self.halls if self._held.get(h)]
        self._held.clear()
        with contextlib.suppress(Exception):
            await self._release_all(held)
        with contextlib.suppress(Exception):
            await self.redis.zrem(CONTROLLERS, self.token)


CONTROLLER: Key[TideController] = Key("tide.controller")
