"""The voice dispatcher: call events from each hall's stream → audio → ``voice.announce``.

Every app process runs one. They share the consumer group ``voice`` on each hall's
stream, so each call is delivered to one dispatcher only; entries left pending by a
dispatcher that died are claimed (``XAUTOCLAIM``) by the others after ``claim_idle``.
Only halls whose entries a dispatcher took lately can have such entries: each one notes
the hall in ``READ_KEY`` before it reads a rung hall's stream (and after any read or
claim that took entries), and the claims look only at the halls noted there within
``recent`` seconds; every hall is looked at once at start and every ``FULL_ROUNDS``
rounds (the safety net: a dispatcher killed between its read and its note). The sweep
for rings lost is taken in turns: one process reads every hall per ``sweep`` seconds.
A call whose audio is cached (and passes a quick check: readable, long enough, not
silent) is announced at once; otherwise an RQ job synthesizes it and announces it.
Nothing here ever delays a call on screen: the call event is already in the stream when
the dispatcher sees it. A call older than the hall's ``max_age_seconds`` is dropped,
never announced late.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from hall.events import CALL_EVENTS, Event, EventType
from hall.streams import BATCH, batches, noted_since, per_key
from hall.text import as_str
from ticketing.keys import HallKeys
from voice.announce import GROUP, announce_async
from voice.audio import AudioCache
from voice.phrases import Announcement, announcement_for
from voice.settings import VoiceSettings

CALL_TYPES = frozenset(e.value for e in CALL_EVENTS)

log = logging.getLogger("voice.dispatcher")
Clock = Callable[[], float]
Enqueue = Callable[[Announcement], Awaitable[object]]
STOP_SECONDS = 1.0
FORGET_ROUNDS = 120  # claim rounds between two looks for consumers long gone
FULL_ROUNDS = 120  # claim rounds between two looks at every hall's pending entries
READ_KEY = "voice:read"  # zset: hall → when a dispatcher last took (or was about to take)
#                          entries of its stream; trimmed to ``recent`` by the claims
FORGET = """
-- KEYS: hall streams; ARGV[1] group, ARGV[2] idle ms, ARGV[3] this consumer
-- Deletes the group's consumers with nothing pending, idle longer than ARGV[2] (not this
-- one); returns the names deleted, per stream.
local out = {}
for i, key in ipairs(KEYS) do
  local gone = {}
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', key, ARGV[1])
  if ok then
    for _, c in ipairs(consumers) do
      local f = {}
      for j = 1, #c, 2 do f[c[j]] = c[j + 1] end
      if tonumber(f['pending']) == 0 and tonumber(f['idle']) > tonumber(ARGV[2])
          and f['name'] ~= ARGV[3] then
        redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], f['name'])
        gone[#gone + 1] = f['name']
      end
    end
  end
  out[i] = gone
end
return out
"""
CALLS_CHANNEL = "voice:calls"  # Pub/Sub: a hall id, published when a call is committed
SWEEP_SECONDS = 20.0  # every hall's stream is read this often even without a ring
SWEEP_KEY = "voice:sweep"  # string, PX sweep: the process sweeping this turn (one of all)
NO_BLOCK = -1  # read_many: answer at once


class Outcome(str, Enum):
    IGNORED = "ignored"  # not a call, or nothing to say
    STALE = "stale"  # too old: dropped
    ANNOUNCED = "announced"  # audio was cached: announced at once
    ALREADY_SAID = "already_said"  # another dispatcher or job announced it
    ENQUEUED = "enqueued"  # an RQ job will synthesize and announce it


@dataclass(frozen=True)
class Handled:
    hall: str
    entry_id: str
    outcome: Outcome
    announcement: Announcement | None = None


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"



class Dispatcher:
    def __init__(
        self, redis: Redis, voice: dict[str, VoiceSettings], cache: AudioCache,
        enqueue: Enqueue, clock: Clock, *, consumer: str | None = None,
        claim_idle: float = 10.0, block: float = 1.0, batch: int = 100,
        forget_after: float = 3600.0, sweep: float = SWEEP_SECONDS,
        recent: float | None = None, full_rounds: int = FULL_ROUNDS,
    ) -> None:
        self.redis = redis
        self.voice = voice
        self.cache = cache
        self.enqueue = enqueue
        self.clock = clock
        self.consumer = consumer or consumer_name()
        self.claim_idle_ms = int(claim_idle * 1000)
        self.block_ms = int(block * 1000)
        self.batch = batch
        self.forget_after_ms = int(forget_after * 1000)
        self.sweep = sweep
        # an entry read longer ago than this is stale when claimed (max_age_seconds): only
        # the full look acknowledges it
        self.recent = recent if recent is not None else 2 * claim_idle + max(
            [s.max_age_seconds for s in voice.values()], default=60.0)
        self.full_rounds = full_rounds
        self._due: set[str] = set()
        self._wake: asyncio.Event | None = None

    @property
    def halls(self) -> list[str]:
        return [h for h, s in self.voice.items() if s.enabled]

    async def ensure_group(self, hall: str) -> None:
        """Create the hall's group at the stream's end: a new group never replays old calls."""
        await self.ensure_groups([hall])

    async def ensure_groups(self, halls: list[str]) -> None:
        """``ensure_group`` for many halls in one pipelined round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for hall in halls:
                pipe.xgroup_create(HallKeys(hall).events, GROUP, id="$", mkstream=True)
            replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception) and "BUSYGROUP" not in str(reply):
                raise reply

    # ---- one step each, so tests and the benchmark can drive a dispatcher by hand ----

    async def read(self, hall: str, block_ms: int | None = None) -> list[Handled]:
        """Read new entries for this consumer (blocking up to block_ms), handle, ack."""
        return await self.read_many([hall], block_ms)

    async def read_many(self, halls: list[str], block_ms: int | None = None,
                        noted: bool = False) -> list[Handled]:
        """One XREADGROUP over many halls' streams (``hall.streams.batches`` keeps a batch
        readable by one command); handle and ack each hall's entries. The halls that gave
        entries are noted in ``READ_KEY`` unless ``noted`` (noted before the read)."""
        streams = {HallKeys(h).events: h for h in halls}
        try:
            block = self.block_ms if block_ms is None else block_ms
            reply: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, dict.fromkeys(streams, ">"), count=self.batch,
                block=None if block == NO_BLOCK else block)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_groups(halls)  # a stream was deleted under us
            return []
        out: list[Handled] = []
        taken = [streams[as_str(stream)] for stream, batch in reply or [] if batch]
        if taken and not noted:
            await self.note(taken)
        for stream, batch in reply or []:
            hall = streams[as_str(stream)]
            out.extend(await self._handle_all(hall, [(as_str(i), f) for i, f in batch]))
        return out

    async def claim(self, hall: str) -> list[Handled]:
        """Take over entries another consumer left pending longer than claim_idle."""
        stream = HallKeys(hall).events
        start = "0-0"
        out: list[Handled] = []
        while True:
            try:
                reply: Any = await self.redis.xautoclaim(stream, GROUP, self.consumer,
                                                    self.claim_idle_ms, start, count=self.batch)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self.ensure_group(hall)
                return out
            start = as_str(reply[0])
            entries = [(as_str(i), f) for i, f in reply[1] if f]
            if entries:
                await self.note([hall])
            out.extend(await self._handle_all(hall, entries))
            deleted = [as_str(i) for i in (reply[2] if len(reply) > 2 else [])]
            if deleted:  # trimmed from the stream while pending: nothing left to say
                await self.redis.xack(stream, GROUP, *deleted)
            if start == "0-0":
                return out

    async def note(self, halls: list[str]) -> None:
        """Note in ``READ_KEY`` that dispatchers hold (or are about to) entries of ``halls``."""
        now = self.clock()
        await self.redis.zadd(READ_KEY, dict.fromkeys(halls, now))

    async def recent_halls(self) -> list[str]:
        """The halls noted within ``recent`` seconds (older notes are dropped)."""
        noted = await noted_since(self.redis, READ_KEY, self.clock() - self.recent)
        return [h for h in noted if h in self.voice and self.voice[h].enabled]

    async def forget_idle_consumers(self, hall: str) -> list[str]:
        """Remove consumers (app processes long gone) with nothing pending from the group."""
        return (await self.forget_idle_in([hall])).get(hall, [])

    async def forget_idle_in(self, halls: list[str]) -> dict[str, list[str]]:
        """``forget_idle_consumers`` for many halls: one script call per ``BATCH`` streams
        (per slot on a cluster), not two commands a hall; the names removed, by hall."""
        streams = {HallKeys(h).events: h for h in halls}
        out: dict[str, list[str]] = {}
        for group in batches(self.redis, streams, BATCH):
            reply: Any = await self.redis.eval(FORGET, len(group), *group, GROUP,
                                               self.forget_after_ms, self.consumer)
            for key, names in zip(group, reply, strict=True):
                if names:
                    out[streams[key]] = [as_str(n) for n in names]
        return out

    async def _handle_all(self, hall: str, entries: list[tuple[str, dict[Any, Any]]]
                          ) -> list[Handled]:
        out: list[Handled] = []
        done: list[str] = []
        try:
            for entry_id, fields in entries:
                out.append(await self.handle(hall, entry_id, fields))
                done.append(entry_id)
        finally:
            # Ack what was handled; an entry whose handling failed stays pending and is
            # claimed again later (and dropped then if it has grown stale).
            if done:
                await self.redis.xack(HallKeys(hall).events, GROUP, *done)
        return out

    async def handle(self, hall: str, entry_id: str, fields: dict[Any, Any]) -> Handled:
        kind_raw = fields.get(b"type", fields.get("type"))
        if kind_raw is not None and as_str(kind_raw) not in CALL_TYPES:
            # most entries are not calls: skip them before decoding their JSON
            return Handled(hall, entry_id, Outcome.IGNORED)
        try:
            event = Event.from_fields(entry_id, {as_str(k): as_str(v) for k, v in fields.items()})
        except (KeyError, ValueError):
            log.warning("unreadable entry %s in hall %s", entry_id, hall)
            return Handled(hall, entry_id, Outcome.IGNORED)
        if event.type not in CALL_EVENTS:
            return Handled(hall, entry_id, Outcome.IGNORED)
        ticket = event.data.get("ticket")
        settings = self.voice.get(hall)
        if settings is None or not isinstance(ticket, dict):
            return Handled(hall, entry_id, Outcome.IGNORED)
        kind = "recall" if event.type is EventType.TICKET_RECALLED else "call"
        ann = announcement_for(hall, entry_id, kind, event.at, ticket, settings)
        if ann is None:
            return Handled(hall, entry_id, Outcome.IGNORED)
        now = self.clock()
        if ann.is_stale(now):
            log.info("dropped stale call %s %s (%.1f s old)", hall, ann.number, ann.age(now))
            return Handled(hall, entry_id, Outcome.STALE, ann)
        if self.cache.use(ann.audio_key):
            problem = await asyncio.to_thread(self.cache.problem, ann.audio_key,
                                              len(ann.segments))
            if problem is not None:  # never play a bad file: make it again
                log.warning("cached audio %s of %s %s is bad (%s): synthesizing again",
                            ann.audio_key, hall, ann.number, problem)
                self.cache.remove(ann.audio_key)
                await self.enqueue(ann)
                return Handled(hall, entry_id, Outcome.ENQUEUED, ann)
            said = await announce_async(self.redis, ann, now)
            return Handled(hall, entry_id, Outcome.ANNOUNCED if said else Outcome.ALREADY_SAID,
                           ann)
        await self.enqueue(ann)
        return Handled(hall, entry_id, Outcome.ENQUEUED, ann)

    # ---- the background loop ------------------------------------------------------

    def ring(self, hall: str) -> None:
        """A call was committed in ``hall``: read its stream now (this process's store
        observer, or a message on ``CALLS_CHANNEL`` from another process)."""
        if hall in self.voice:
            self._due.add(hall)
            if self._wake is not None:
                self._wake.set()

    async def read_now(self, halls: list[str]) -> list[Handled]:
        """``read_many`` without blocking: what is there now."""
        return await self.read_many(halls, block_ms=NO_BLOCK)

    async def run(self) -> None:
        """Serve every hall until cancelled. A committed call rings its hall (locally, and
        on ``CALLS_CHANNEL`` for the other processes) and only that hall's stream is read;
        a sweep reads every hall, in multi-stream batches, every ``sweep`` seconds (a
        ring lost with a process or a connection: the call is said late, or dropped as
        stale, never lost from the stream); and a periodic claim."""
        groups = batches(self.redis, self.halls, BATCH)
        for group in groups:
            await self._retry(self.ensure_groups, group)
        self._wake = asyncio.Event()
        tasks = [asyncio.create_task(self._listen(), name="voice-listen"),
                 asyncio.create_task(self._due_loop(), name="voice-due"),
                 asyncio.create_task(self._sweep_loop(), name="voice-sweep"),
                 asyncio.create_task(self._claim_loop(), name="voice-claim")]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            # Not `await task`: a task cancelled inside a redis.asyncio command can stay
            # stuck, and shutdown must not wait for it.
            await asyncio.wait(tasks, timeout=STOP_SECONDS)

    async def _retry(self, step: Callable[[list[str]], Awaitable[object]],
                     halls: list[str]) -> None:
        hall = halls[0] if len(halls) == 1 else f"{halls[0]} and {len(halls) - 1} more"
        delay = 0.2
        while True:
            try:
                await step(halls)
                return
            except (RedisError, OSError) as exc:
                log.warning("voice dispatcher (%s): %s; retrying in %.1f s", hall, exc, delay)
            except Exception:  # a bug must not silence the hall for good
                log.exception("voice dispatcher (%s) failed; retrying in %.1f s", hall, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self) -> None:
        """Rings from the other processes (Pub/Sub: a lost one is the sweep's)."""
        delay = 0.2
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CALLS_CHANNEL)
                    delay = 0.2
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.ring(as_str(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("voice rings: %s; listening again in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _due_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            due, self._due = sorted(self._due), set()
            for group in batches(self.redis, due, BATCH):
                await self._retry(self._read_rung, group)

    async def _read_rung(self, halls: list[str]) -> None:
        await self.note(halls)  # before the read: entries pending are never unnoted
        await self.read_many(halls, block_ms=NO_BLOCK, noted=True)

    async def take_sweep(self) -> bool:
        """The sweep's turn for the next ``sweep`` seconds (``SWEEP_KEY``): the group hands
        each new entry to one reader, so one process's sweep covers every process's."""
        try:
            return bool(await self.redis.set(SWEEP_KEY, self.consumer, nx=True,
                                             px=max(1, int(self.sweep * 1000))))
        except (RedisError, OSError) as exc:
            log.warning("voice sweep turn: %s; sweeping anyway", exc)
            return True

    async def _sweep_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(min(self.sweep, 1.0))  # a changed ``sweep`` counts at once
            if loop.time() - last < self.sweep:
                continue
            last = loop.time()
            if not await self.take_sweep():
                continue  # another process sweeps this turn
            for group in batches(self.redis, self.halls, BATCH):
                await self._retry(self.read_now, group)

    async def pending_halls(self, halls: list[str]) -> list[str]:
        """The halls whose group has entries pending (XPENDING, pipelined): only those
        can have something to claim."""
        replies = await per_key(self.redis, "XPENDING", [HallKeys(h).events for h in halls],
                                GROUP)
        # XPENDING's summary: [count, smallest id, greatest id, consumers]
        return [h for h, r in zip(halls, replies, strict=True)
                if isinstance(r, list) and r and int(r[0] or 0) > 0]

    async def _claim_loop(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(max(self.claim_idle_ms / 2000, 0.5))
            rounds += 1
            full = rounds % self.full_rounds == 1 % self.full_rounds  # the first, then every
            forget = rounds % FORGET_ROUNDS == 0
            try:
                halls = self.halls if full else await self.recent_halls()
            except Exception as exc:
                log.warning("voice claim: %s", exc)
                continue
            await self.claim_pending(halls, forget)

    async def claim_pending(self, halls: list[str], forget: bool = False) -> list[Handled]:
        """Claim what is pending long enough in ``halls`` (and forget consumers long gone)."""
        out: list[Handled] = []
        for group in batches(self.redis, halls, BATCH):
            try:
                pending = await self.pending_halls(group)
            except Exception as exc:
                log.warning("voice claim: %s", exc)
                continue
            for hall in pending:
                try:
                    out.extend(await self.claim(hall))
                except Exception as exc:
                    log.warning("voice claim (%s): %s", hall, exc)
            if forget:  # after the claims: a consumer's pending calls are claimed first
                try:
                    await self.forget_idle_in(group)
                except Exception as exc:
                    log.warning("voice forget: %s", exc)
        return out
