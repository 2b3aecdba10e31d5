"""The voice package as an app component: the audio routes and the dispatcher."""

from __future__ import annotations

import asyncio
import logging

from redis import Redis as SyncRedis
from starlette.applications import Starlette

from hall.component import Component
from hall.redis_conn import sync_client
from voice.audio import AudioCache
from voice.dispatcher import STOP_SECONDS, Dispatcher
from voice.jobs import enqueue, voice_queue
from voice.phrases import Announcement
from voice.routes import routes
from voice.settings import VoiceConfigError, VoiceSettings, parse_voice

log = logging.getLogger("voice")


def hall_voice_settings(app: Starlette) -> dict[str, VoiceSettings]:
    """Every hall's [voice] table, parsed; a mistake stops the start with its field named."""
    out: dict[str, VoiceSettings] = {}
    problems: list[str] = []
    for hall_id, cfg in app.state.halls.items():
        try:
            out[hall_id] = parse_voice(cfg.voice)
        except VoiceConfigError as exc:
            problems.extend(f"hall '{hall_id}': {p}" for p in exc.problems)
    if problems:
        raise VoiceConfigError(problems)
    return out


async def start(app: Starlette) -> None:
    settings = app.state.settings
    app.state.audio_cache = cache = AudioCache(settings.data_dir)
    app.state.voice_settings = voice = hall_voice_settings(app)
    sync = sync_client(settings)  # hall.redis_conn: password, Sentinel, retries
    queue = voice_queue(sync)

    async def to_worker(ann: Announcement) -> str:
        return await asyncio.to_thread(enqueue, queue, ann)

    dispatcher = Dispatcher(app.state.redis, voice, cache, to_worker, app.state.clock)
    app.state.voice_dispatcher = dispatcher
    app.state.voice_sync_redis = sync
    app.state.voice_task = asyncio.create_task(dispatcher.run(), name="voice-dispatcher")


async def stop(app: Starlette) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "voice_task", None)
    if task is not None:
        task.cancel()
        await asyncio.wait([task], timeout=STOP_SECONDS + 0.5)  # never hang the shutdown
    sync: SyncRedis | None = getattr(app.state, "voice_sync_redis", None)
    if sync is not None:
        sync.close()


component = Component("voice", routes=list(routes), start=start, stop=stop)
