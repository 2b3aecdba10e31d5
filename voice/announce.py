"""Appending ``voice.announce`` to a hall's stream, exactly once per call.

Keys (all under the hall's hash tag, beside ``ticketing/keys.py``'s):

    hall:{h}:events               stream  the hall's event stream; the consumer group
                                          ``voice`` (``GROUP``) is the dispatchers'
    hall:{h}:voice:said:<call>    string  set when call <call> (a stream id) was announced
    hall:{h}:voice:synthesis      hash    counters of the worker's synthesis: retried
                                          (segments made again), failed (calls given up,
                                          nothing cached), replaced (bad cached files)

Both the dispatcher (audio already cached) and the RQ job (audio just made) announce
through ``scripts/announce.lua``, which appends the event only if the call's marker
was not yet set, so a call claimed by a second dispatcher or a retried job is never
said twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import redis
import redis.asyncio

from hall.events import EventType
from hall.text import as_str
from ticketing.commit import STREAM_MAXLEN
from ticketing.keys import HallKeys
from voice.audio import CHIME_URL, audio_url
from voice.phrases import Announcement

GROUP = "voice"
SAID_TTL_SECONDS = 24 * 3600
SCRIPT = (Path(__file__).parent / "scripts" / "announce.lua").read_text(encoding="utf-8")


def said_key(hall: str, call_id: str) -> str:
    return f"{HallKeys(hall).prefix}:voice:said:{call_id}"


def synthesis_key(hall: str) -> str:
    return f"{HallKeys(hall).prefix}:voice:synthesis"


def _args(ann: Announcement, now: float) -> tuple[list[str], list[str]]:
    data = ann.event_data(audio_url(ann.audio_key), CHIME_URL)
    keys = [HallKeys(ann.hall).events, said_key(ann.hall, ann.call_id)]
    args = [str(STREAM_MAXLEN), str(SAID_TTL_SECONDS), EventType.ANNOUNCE.value, repr(now),
            json.dumps(data, ensure_ascii=False, separators=(",", ":"))]
    return keys, args


def _id(raw: object) -> str | None:
    return as_str(raw) if raw else None


def announce(client: redis.Redis, ann: Announcement, now: float) -> str | None:
    """Append the announce event (sync, for RQ jobs); None if the call was already said."""
    keys, args = _args(ann, now)
    return _id(client.register_script(SCRIPT)(keys=keys, args=args))


async def announce_async(client: redis.asyncio.Redis, ann: Announcement, now: float
                         ) -> str | None:
    """Append the announce event (async, for the dispatcher); None if already said."""
    keys, args = _args(ann, now)
    return _id(await client.register_script(SCRIPT)(keys=keys, args=args))
