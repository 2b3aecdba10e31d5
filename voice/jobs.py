"""RQ jobs of the voice queue, run by ``hall worker``: synthesize a call, then announce it.

The worker reads the data folder from ``HALL_DATA`` (``hall serve`` passes its own), and
writes audio under ``<data>/audio``, the folder the app serves ``/audio/<key>.wav`` from.

Only verified audio is cached: ``Synthesizer.speak`` checks every segment and synthesizes
a wrong one again; when one stays wrong the job logs it, counts it (``synthesis_key``:
``failed``; also ``retried`` and ``replaced``, read by ``/metrics``) and fails, caching
nothing. A cached file found bad is replaced.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import Queue, get_current_job

from hall.jobs import VOICE_QUEUE
from hall.redis_conn import job_data_client
from hall.settings import Settings
from voice.announce import announce, synthesis_key
from voice.audio import KEEP_UNUSED_DAYS, AudioCache
from voice.phrases import Announcement
from voice.synth import SynthesisError, Synthesizer

log = logging.getLogger("voice.jobs")
JOB_TIMEOUT_SECONDS = 30
PRUNE_CHANCE = 0.01


@dataclass(frozen=True)
class JobResult:
    key: str
    synthesized: bool
    announced: str | None  # the voice.announce entry id, if this job appended it
    stale: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "synthesized": self.synthesized,
                "announced": self.announced, "stale": self.stale}


def ensure_audio(cache: AudioCache, ann: Announcement,
                 counts: dict[str, int] | None = None) -> bool:
    """Make the announcement's audio unless a good copy is cached; True if synthesized now.

    Raises SynthesisError (nothing cached) when a segment stays wrong after its retries."""
    key = ann.audio_key
    if cache.has(key):
        problem = cache.problem(key, len(ann.segments))
        if problem is None:
            return False
        log.warning("cached audio %s of %s %s is bad (%s): replacing it", key, ann.hall,
                    ann.number, problem)
        cache.remove(key)
        if counts is not None:
            counts["replaced"] = counts.get("replaced", 0) + 1
    pcm = Synthesizer().speak(ann.segments, ann.rate, ann.volume)
    cache.put(key, pcm.wav())
    if random.random() < PRUNE_CHANCE:  # now and then, never on every call
        cache.prune(KEEP_UNUSED_DAYS * 86400, time.time())
    return True


def _count(client: Redis, hall: str, counts: dict[str, int]) -> None:
    """Add to the hall's synthesis counters; a Redis fault must not fail the call."""
    counts = {k: v for k, v in counts.items() if v}
    if not counts:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(synthesis_key(hall), name, n)
        pipe.execute()
    except Exception as exc:
        log.warning("voice: could not count synthesis %s for %s: %s", counts, hall, exc)


def synthesize_and_announce(payload: dict[str, Any]) -> dict[str, Any]:
    """The job: make (or reuse) the audio, then announce unless the call grew too old."""
    ann = Announcement.from_json(payload)
    job = get_current_job()
    if job is None:
        raise RuntimeError("synthesize_and_announce runs inside an RQ worker")
    settings = Settings.from_env()
    cache = AudioCache(settings.data_dir)
    data = job_data_client(settings, job.connection)  # a cluster client on a cluster
    stats = Synthesizer.stats
    retried = stats.retried
    counts: dict[str, int] = {}
    try:
        synthesized = ensure_audio(cache, ann, counts)
    except SynthesisError as exc:
        log.error("voice: call %s %s at window %d not synthesized, nothing cached: %s",
                  ann.hall, ann.number, ann.window, exc)
        _count(data, ann.hall,
               {**counts, "failed": 1, "retried": stats.retried - retried})
        raise
    _count(data, ann.hall, {**counts, "retried": stats.retried - retried})
    now = time.time()
    if ann.is_stale(now):
        # Cached anyway (the next call of this number is instant), but not said late.
        log.info("dropped stale call %s %s (%.1f s old)", ann.hall, ann.number, ann.age(now))
        return JobResult(ann.audio_key, synthesized, None, True).to_json()
    entry = announce(data, ann, now)
    return JobResult(ann.audio_key, synthesized, entry, False).to_json()


def job_id(ann: Announcement) -> str:
    """One job id per call, so a call re-enqueued after a claim replaces its own job."""
    return f"voice-{ann.hall}-{ann.call_id}"


def enqueue(queue: Queue, ann: Announcement) -> str:
    """Queue the job; it expires unrun once the call is too old to be worth saying."""
    job = queue.enqueue(
        synthesize_and_announce, ann.to_json(), job_id=job_id(ann),
        ttl=int(ann.max_age_seconds) + 1, result_ttl=600, failure_ttl=24 * 3600,
        job_timeout=JOB_TIMEOUT_SECONDS, description=f"voice {ann.hall} {ann.number}",
    )
    return str(job.id)


def voice_queue(connection: Redis) -> Queue:
    return Queue(VOICE_QUEUE, connection=connection)
