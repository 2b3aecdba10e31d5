"""The voice package as an app component: the audio routes and the dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge
from redis import Redis as SyncRedis

from hall.component import Component
from hall.config import ConfigError, HallConfig
from hall.events import CALL_EVENTS, EventType
from hall.metrics import HallMetrics
from hall.redis_conn import jobs_client
from hall.services import Key, Services
from hall.streams import per_key
from hall.text import as_str
from ticketing.commit import Observer
from ticketing.store import STORE
from voice.announce import synthesis_key
from voice.audio import AUDIO, AudioCache
from voice.dispatcher import CALLS_CHANNEL, STOP_SECONDS, Dispatcher
from voice.jobs import enqueue, voice_queue
from voice.phrases import Announcement
from voice.routes import routes
from voice.settings import VoiceSettings, parse_voice

log = logging.getLogger("voice")


def hall_voice_settings(halls: Mapping[str, HallConfig]) -> dict[str, VoiceSettings]:
    """Every hall's [voice] table, parsed; a mistake stops the start with its field named."""
    out: dict[str, VoiceSettings] = {}
    problems: list[str] = []
    parsed: dict[int, VoiceSettings] = {}  # generated halls share their template's table
    for hall_id, cfg in halls.items():
        try:
            known = parsed.get(id(cfg.voice))
            out[hall_id] = known or parsed.setdefault(id(cfg.voice), parse_voice(cfg.voice))
        except ConfigError as exc:
            problems.extend(f"hall '{hall_id}': {p}" for p in exc.problems)
    if problems:
        raise ConfigError("", problems)
    return out


@dataclass
class VoiceRuntime:
    """The dispatcher of this process and what it holds (its task, its sync client)."""

    dispatcher: Dispatcher
    sync: SyncRedis
    task: asyncio.Task[None] | None = None


VOICE: Key[VoiceRuntime] = Key("voice.runtime")


def provide(found: Services) -> dict[Key[Any], object]:
    cache = AudioCache(found.settings.data_dir)
    voice = hall_voice_settings(found.halls)
    sync = jobs_client(found.settings)  # hall.redis_conn: password, Sentinel/Cluster, retries
    queue = voice_queue(sync)

    async def to_worker(ann: Announcement) -> str:
        return await asyncio.to_thread(enqueue, queue, ann)

    dispatcher = Dispatcher(found.redis, voice, cache, to_worker, found.clock)
    found.get(STORE).observers.append(rings(found, dispatcher))
    return {AUDIO: cache, VOICE: VoiceRuntime(dispatcher, sync)}


def rings(found: Services, dispatcher: Dispatcher) -> Observer:
    """A committed call rings its hall: here at once, on ``CALLS_CHANNEL`` for the others."""
    pending: set[asyncio.Task[Any]] = set()

    def observe(hall_id: str, event: EventType, data: dict[str, Any]) -> None:
        if event not in CALL_EVENTS:
            return
        dispatcher.ring(hall_id)
        task: asyncio.Task[Any] = asyncio.ensure_future(
            found.redis.publish(CALLS_CHANNEL, hall_id))
        pending.add(task)
        task.add_done_callback(_published(pending))

    return observe


def _published(pending: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("voice ring not published: %s", task.exception())
    return done


SYNTHESIS_OUTCOMES = ("retried", "failed", "replaced")


def synthesis_gauges(found: Services) -> None:
    """``hall_voice_synthesis{hall, outcome}``: the workers' counts (voice.jobs), read from
    Redis at scrape, so the same on every process (use max(), not sum())."""
    gauge = Gauge("hall_voice_synthesis", "Voice segments synthesized again after a failed "
                  "check (retried), calls given up with nothing cached (failed), bad cached "
                  "files replaced (replaced); counted by the workers, read from Redis",
                  ["hall", "outcome"], registry=found.metrics.registry)
    halls = [h for h, cfg in found.halls.items() if cfg.voice.get("enabled", True)]

    async def read(metrics: HallMetrics) -> None:
        flat = await per_key(found.redis, "HGETALL", [synthesis_key(h) for h in halls])
        counts = [dict(zip(r[::2], r[1::2], strict=True)) for r in flat]  # script: flat lists
        gauge.clear()  # a province: halls with counts and those of their own files
        for hall, raw in zip(halls, counts, strict=True):
            if not raw and found.halls[hall].template:
                continue
            values = {as_str(k): int(v) for k, v in raw.items()}
            for outcome in SYNTHESIS_OUTCOMES:
                gauge.labels(hall, outcome).set(values.get(outcome, 0))

    found.metrics.on_scrape(read)


async def start(found: Services) -> None:
    runtime = found.get(VOICE)
    synthesis_gauges(found)
    runtime.task = asyncio.create_task(runtime.dispatcher.run(), name="voice-dispatcher")


async def stop(found: Services) -> None:
    runtime = found.get(VOICE)
    if runtime.task is not None:
        runtime.task.cancel()
        await asyncio.wait([runtime.task], timeout=STOP_SECONDS + 0.5)  # never hang the shutdown
    runtime.sync.close()


component = Component("voice", routes=list(routes), provide=provide, start=start, stop=stop)
