"""One real worker, calls of halls with different rates and volumes interleaved: every
announcement at its own hall's settings; broken synthesis retried, never cached."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from hall.jobs import VOICE_QUEUE
from tests.voice_support import Fault, WorkerProcess, audio_problem
from ticketing.keys import HallKeys
from voice.announce import synthesis_key
from voice.audio import AudioCache
from voice.jobs import enqueue, job_id, voice_queue
from voice.phrases import Announcement, announcement_for
from voice.settings import parse_voice

# hall: its [voice] table. Rates at least 7 % apart, so a call at a neighbour's rate is
# outside the 3 % the check allows; volumes differ as well.
HALLS = {
    "district": {"languages": ["zh", "en"], "rate": 150, "volume": 1.0},
    "village": {"languages": ["zh"], "rate": 140, "volume": 0.7},
    "town": {"languages": ["zh"], "rate": 175, "volume": 0.85, "number_style": "number"},
    "station": {"languages": ["zh", "en"], "rate": 200, "volume": 0.55},
}
LETTERS = "ABCDEFGHJKLM"  # the district's queue letters
CALLS = 320


def make(hall: str, i: int, window: int | None = None) -> Announcement:
    settings = parse_voice({**HALLS[hall], "max_age_seconds": 3600})
    number = f"{LETTERS[i % len(LETTERS)]}{i % 1000:03d}"
    ann = announcement_for(hall, f"{i + 1}-0", "call", time.time(),
                           {"number": number, "window": window or i % 12 + 1}, settings)
    assert ann is not None
    return ann


def announced(client: redis.Redis, hall: str) -> set[str]:
    return {f[b"data"].decode() for _, f in client.xrange(HallKeys(hall).events)
            if f[b"type"] == b"voice.announce"}


def wait_announced(client: redis.Redis, anns: list[Announcement], timeout: float
                   ) -> dict[str, int]:
    """Poll until every announcement's event is on its hall's stream (or the deadline)."""
    want = {h: sum(1 for a in anns if a.hall == h) for h in {a.hall for a in anns}}
    deadline = time.monotonic() + timeout
    while True:
        got = {h: client.xlen(HallKeys(h).events) for h in want}
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


@pytest.fixture
def sync(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def start_worker(redis_url: str, tmp_path: Path) -> Iterator[object]:
    started: list[WorkerProcess] = []

    def start(faults: list[Fault] | None = None) -> WorkerProcess:
        w = WorkerProcess(redis_url, tmp_path, log_path=tmp_path / "worker.log",
                          faults=faults).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_interleaved_halls_each_get_their_own_rate_and_volume(sync, start_worker,
                                                              tmp_path: Path) -> None:
    start_worker()
    halls = list(HALLS)
    anns = [make(halls[i % len(halls)], i) for i in range(CALLS)]  # d, v, t, s, d, v, …
    queue = voice_queue(sync)
    for ann in anns:
        enqueue(queue, ann)
    got = wait_announced(sync, anns, timeout=400)
    assert sum(got.values()) == CALLS, got
    cache = AudioCache(tmp_path)
    wrong = []
    for ann in anns:
        problem = audio_problem(cache.path(ann.audio_key).read_bytes(), ann.segments,
                                ann.rate, ann.volume)
        if problem:
            wrong.append((ann.hall, ann.number, problem))
    assert wrong == [], f"{len(wrong)} of {CALLS} announcements wrong: {wrong[:10]}"
    assert [h for h in HALLS if sync.hget(synthesis_key(h), "failed")] == []
    assert len(FailedJobRegistry(VOICE_QUEUE, connection=sync)) == 0


def test_injected_failures_are_retried_and_never_cached(sync, start_worker,
                                                        tmp_path: Path) -> None:
    # district calls 1-7: each segment below is spoiled (once unless said), call 9's always.
    start_worker([Fault("零零一", "empty"), Fault("zero zero two", "half"),
                  Fault("零零三", "silence"), Fault("zero zero four", "slow"),
                  Fault("零零五", "raise"), Fault("zero zero six", "empty", times=2),
                  Fault("零零七", "raise"), Fault("零零七", "slow"),  # an error, then too long
                  Fault("零零九", "empty", times=0)])
    anns = [make("district", i) for i in (1, 2, 3, 4, 5, 6, 7, 9)]
    queue = voice_queue(sync)
    for ann in anns:
        enqueue(queue, ann)
    failed = FailedJobRegistry(VOICE_QUEUE, connection=sync)
    deadline = time.monotonic() + 120
    while (len(announced(sync, "district")) < 7 or len(failed) < 1) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    cache = AudioCache(tmp_path)
    for ann in anns[:-1]:  # said, from a verified file
        assert cache.has(ann.audio_key), ann.number
        assert audio_problem(cache.path(ann.audio_key).read_bytes(), ann.segments, ann.rate,
                             ann.volume) is None, ann.number
    assert len(announced(sync, "district")) == 7
    never = anns[-1]  # gave up: not said, nothing cached, the job failed and was counted
    assert not cache.has(never.audio_key)
    assert failed.get_job_ids() == [job_id(never)]
    assert sorted(p.name for p in cache.dir.iterdir()) == sorted(
        f"{a.audio_key}.wav" for a in anns[:-1])  # no temporary or partial files
    counts = {k.decode(): int(v) for k, v in sync.hgetall(synthesis_key("district")).items()}
    assert counts["failed"] == 1
    assert counts["retried"] == 1 + 1 + 1 + 1 + 1 + 2 + 2 + 2  # call 9: three attempts
    log = (tmp_path / "worker.log").read_text()
    assert "not synthesized, nothing cached" in log and never.number in log


def test_a_chinese_only_hall_whose_synthesis_fails_once_still_announces(
        sync, start_worker, tmp_path: Path) -> None:
    start_worker([Fault("请", "raise")])  # the first rendering of the call fails
    ann = make("village", 7, window=1)
    assert [s.language for s in ann.segments] == ["zh"]
    enqueue(voice_queue(sync), ann)
    deadline = time.monotonic() + 60
    while not announced(sync, "village") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(announced(sync, "village")) == 1
    data = AudioCache(tmp_path).path(ann.audio_key).read_bytes()
    assert audio_problem(data, ann.segments, ann.rate, ann.volume) is None
    assert sync.hget(synthesis_key("village"), "retried") == b"1"


def test_a_bad_cached_file_is_replaced_by_the_worker(sync, start_worker,
                                                     tmp_path: Path) -> None:
    from voice.synth import Pcm

    ann = make("district", 11)
    cache = AudioCache(tmp_path)
    cache.put(ann.audio_key, Pcm(b"\x00\x00" * 22050 * 4).wav())  # silent: from a bad day
    start_worker()
    enqueue(voice_queue(sync), ann)
    deadline = time.monotonic() + 60
    while not announced(sync, "district") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(announced(sync, "district")) == 1
    assert audio_problem(cache.path(ann.audio_key).read_bytes(), ann.segments, ann.rate,
                         ann.volume) is None
    assert sync.hget(synthesis_key("district"), "replaced") == b"1"
    assert Queue(VOICE_QUEUE, connection=sync).count == 0
