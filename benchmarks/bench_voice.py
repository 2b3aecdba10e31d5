"""Benchmark voice calling: from a call to its audio being ready, and one worker's throughput.

One command:  .venv/bin/python benchmarks/bench_voice.py  [--calls 100] [--jobs 150]

It starts its own redis-server and one real ``hall worker`` process (RQ 3, a forked job
process per job, pyttsx3 + espeak-ng), and in this process the ticket store and the voice
dispatcher exactly as the app runs them. "Audio ready" is the moment the ``voice.announce``
event (which carries the audio URL) is on the hall's stream, seen by a reader like a board.

1. cold:  N calls, one at a time, each a phrase never said before (empty audio cache):
          call-next → dispatcher → RQ job → synthesis (zh + en, the district's [voice]) →
          WAV in the cache → announce event.
2. warm:  the same N calls again in a second hall with the same voice settings (as on the
          next day, when A001 is called at window 1 again): the dispatcher finds the audio
          cached and announces at once, without the worker.
3. throughput: M distinct announcements queued at once; one worker's announcements/s.
4. interleaved: K calls (default 500) of four halls with different rates and volumes
          (140-200 words/min, volume 0.55-1.0; zh+en and zh-only), interleaved, queued at
          once to the one worker. Each WAV is then compared with its expected audio (each
          segment as the espeak-ng command says it at that hall's settings, joined by the
          worker's pause): "wrong rate" = length more than 3 % off (or level more than 5 %);
          "broken" = no file, a segment missing or empty (length under 80 %), or silent.
          Target: 0 and 0. The worker's own counts (segments synthesized again after a
          failed check; calls given up) are reported beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from redis.asyncio import Redis as AsyncRedis  # noqa: E402

from hall.config import HallConfig, bundled_hall_files, load_halls  # noqa: E402
from tests.support import RedisServer  # noqa: E402
from tests.voice_support import WorkerProcess, expected_audio  # noqa: E402
from ticketing import model  # noqa: E402
from ticketing.keys import HallKeys  # noqa: E402
from ticketing.model import Channel  # noqa: E402
from ticketing.store import TicketStore  # noqa: E402
from voice import quality  # noqa: E402
from voice.announce import GROUP, synthesis_key  # noqa: E402
from voice.audio import AudioCache  # noqa: E402
from voice.dispatcher import Dispatcher  # noqa: E402
from voice.jobs import enqueue, voice_queue  # noqa: E402
from voice.phrases import Announcement, announcement_for  # noqa: E402
from voice.settings import parse_voice  # noqa: E402

WINDOWS = (1, 2, 3, 4, 5)  # the district's no-difference windows, serving queue A


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(name: str, seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"phase": name, "n": len(ms), "p50_ms": round(percentile(ms, 50), 1),
            "p90_ms": round(percentile(ms, 90), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1), "mean_ms": round(statistics.fmean(ms), 1)}


def bench_halls() -> dict[str, HallConfig]:
    district = load_halls(bundled_hall_files())["district"]
    voice = {**district.voice, "max_age_seconds": 3600}  # nothing dropped while measuring
    base = dataclasses.replace(district, voice=voice)
    return {h: dataclasses.replace(base, id=h) for h in ("cold", "warm", "burst")}


async def wait_announce(client: AsyncRedis, hall: str, after: str, number: str,
                        timeout: float = 30.0) -> tuple[float, str]:
    """Block on the stream until the announce of `number` appears; (seen at, last id)."""
    stream = HallKeys(hall).events
    deadline = time.perf_counter() + timeout
    last = after
    while time.perf_counter() < deadline:
        reply = await client.xread({stream: last}, block=1000, count=100)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id.decode()
                if fields[b"type"] == b"voice.announce" and \
                        json.loads(fields[b"data"])["number"] == number:
                    return time.perf_counter(), last
    raise TimeoutError(f"no announcement of {number} in {timeout} s")


async def run_calls(store: TicketStore, reader: AsyncRedis, hall: str, n: int
                    ) -> list[float]:
    for w in WINDOWS:
        await store.change_window(hall, w, lambda win, now, w=w: model.login(
            win, f"S0{w}", now), "login")
    latencies: list[float] = []
    last = "$"
    info = await reader.xinfo_stream(HallKeys(hall).events)
    last = info["last-generated-id"].decode()
    for i in range(n):
        window = WINDOWS[i % len(WINDOWS)]
        await store.issue(hall, "QY-KB", Channel.KIOSK)
        started = time.perf_counter()
        ticket = await store.call_next(hall, window)
        assert ticket is not None
        seen, last = await wait_announce(reader, hall, last, ticket.number)
        latencies.append(seen - started)
        await store.start(hall, window)
        await store.finish(hall, window)
        await asyncio.sleep(0.05)  # calls one by one: measure latency, not queueing
    return latencies


def throughput(url: str, hall: str, m: int, settings_raw: dict[str, Any]) -> dict[str, Any]:
    sync = redis.Redis.from_url(url)
    queue = voice_queue(sync)
    settings = parse_voice(settings_raw)
    anns: list[Announcement] = []
    for i in range(m):
        ann = announcement_for(hall, f"burst-{i}", "call", time.time(),
                               {"number": f"T{i + 1:03d}", "window": i % 12 + 1}, settings)
        assert ann is not None
        anns.append(ann)
    stream = HallKeys(hall).events
    base = sync.xlen(stream)  # the warm-up call's events are on this stream already
    started = time.perf_counter()
    for ann in anns:
        enqueue(queue, ann)
    enqueued = time.perf_counter() - started
    while sync.xlen(stream) < base + m:
        time.sleep(0.02)
        if time.perf_counter() - started > 600:
            raise TimeoutError("worker did not finish the burst")
    elapsed = time.perf_counter() - started
    return {"phase": "throughput (1 worker, distinct phrases)", "announcements": m,
            "seconds": round(elapsed, 2), "per_second": round(m / elapsed, 2),
            "enqueue_seconds": round(enqueued, 3)}


INTERLEAVED = {  # hall: its [voice] table
    "i-district": {"languages": ["zh", "en"], "rate": 150, "volume": 1.0},
    "i-village": {"languages": ["zh"], "rate": 140, "volume": 0.7},
    "i-town": {"languages": ["zh"], "rate": 175, "volume": 0.85, "number_style": "number"},
    "i-station": {"languages": ["zh", "en"], "rate": 200, "volume": 0.55},
}


def classify(cache: AudioCache, ann: Announcement) -> str:
    """"ok", "wrong rate" or "broken" (see the module's docstring)."""
    import io
    import wave

    try:
        with wave.open(io.BytesIO(cache.path(ann.audio_key).read_bytes()), "rb") as w:
            got = quality.measure(w.readframes(w.getnframes()), w.getframerate())
    except (OSError, wave.Error, EOFError):
        return "broken"
    samples, rms = expected_audio(ann.segments, ann.rate, ann.volume)
    ratio = got.samples / samples
    if ratio < 0.8 or got.voiced < quality.MIN_VOICED:
        return "broken"
    if abs(ratio - 1) > quality.LENGTH_TOLERANCE or abs(got.rms / rms - 1) > 0.05:
        return "wrong rate"
    return "ok"


def interleaved(url: str, cache: AudioCache, k: int) -> dict[str, Any]:
    sync = redis.Redis.from_url(url)
    queue = voice_queue(sync)
    halls = list(INTERLEAVED)
    letters = "ABCDEFGHJKLM"
    anns: list[Announcement] = []
    for i in range(k):
        hall = halls[i % len(halls)]
        settings = parse_voice({**INTERLEAVED[hall], "max_age_seconds": 3600})
        ann = announcement_for(hall, f"mix-{i}", "call", time.time(),
                               {"number": f"{letters[i % 12]}{i % 1000:03d}",
                                "window": i % 12 + 1}, settings)
        assert ann is not None
        anns.append(ann)
    started = time.perf_counter()
    for ann in anns:
        enqueue(queue, ann)
    want = {h: sum(1 for a in anns if a.hall == h) for h in halls}
    failed_key = [synthesis_key(h) for h in halls]
    while True:
        said = {h: sync.xlen(HallKeys(h).events) for h in halls}
        given_up = sum(int(sync.hget(key, "failed") or 0) for key in failed_key)
        if sum(said.values()) + given_up >= k:
            break
        if time.perf_counter() - started > 1200:
            raise TimeoutError("worker did not finish the interleaved calls")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    outcome = [classify(cache, ann) for ann in anns]
    segments = sum(len(a.segments) for a in anns)
    retried = sum(int(sync.hget(key, "retried") or 0) for key in failed_key)
    return {"phase": "interleaved (4 halls, 140-200 wpm, volume 0.55-1.0)", "calls": k,
            "segments": segments, "announced": sum(said.values()), "expected": sum(want.values()),
            "wrong_rate": outcome.count("wrong rate"),
            "wrong_rate_share": round(outcome.count("wrong rate") / k, 4),
            "broken": outcome.count("broken"),
            "broken_share": round(outcome.count("broken") / k, 4),
            "worker_segments_resynthesized": retried,
            "worker_calls_given_up": given_up,
            "seconds": round(elapsed, 1), "per_second": round(k / elapsed, 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    server = RedisServer(tmp / "redis").start()
    worker = WorkerProcess(server.url, tmp, log_path=tmp / "worker.log")
    halls = bench_halls()
    aredis = AsyncRedis.from_url(server.url)
    reader = AsyncRedis.from_url(server.url)
    sync = redis.Redis.from_url(server.url)
    queue = voice_queue(sync)
    cache = AudioCache(tmp)
    voice = {h: parse_voice(cfg.voice) for h, cfg in halls.items()}

    async def to_worker(ann: Announcement) -> str:
        return await asyncio.to_thread(enqueue, queue, ann)

    store = TicketStore(aredis, halls, time.time)
    dispatcher = Dispatcher(aredis, voice, cache, to_worker, time.time)
    task = asyncio.create_task(dispatcher.run())
    try:
        worker.start()
        for h in halls:  # the dispatcher's groups exist before the first call
            while True:
                try:
                    if any(g["name"].decode() == GROUP
                           for g in await reader.xinfo_groups(HallKeys(h).events)):
                        break
                except redis.ResponseError:
                    pass
                await asyncio.sleep(0.02)
        # one call first so the worker's first fork and imports are not in the figures
        await run_calls(store, reader, "burst", 1)
        cold = await run_calls(store, reader, "cold", args.calls)
        files = len(list(cache.dir.glob("*.wav")))
        warm = await run_calls(store, reader, "warm", args.calls)
        assert len(list(cache.dir.glob("*.wav"))) == files  # nothing synthesized twice
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    burst = throughput(server.url, "burst", args.jobs, dict(halls["burst"].voice))
    mixed = interleaved(server.url, cache, args.interleaved)
    worker.stop()
    await aredis.aclose()
    await reader.aclose()
    server.stop()
    return {
        "command": "benchmarks/bench_voice.py " + " ".join(sys.argv[1:]),
        "cpus": os.cpu_count(),
        "voice": {k: v for k, v in halls["cold"].voice.items() if k != "templates"},
        "results": [summary("cold cache (worker synthesizes zh+en)", cold),
                    summary("warm cache (dispatcher announces)", warm), burst, mixed],
    }


def compare_old(commit: str, calls: int) -> dict[str, Any]:
    """In this process: the ``voice/synth.py`` of an older commit against the current one on
    the same interleaved segments, each compared with the espeak-ng command's rendering."""
    import importlib.util
    import subprocess

    old_src = subprocess.run(["git", "show", f"{commit}:voice/synth.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="old-synth-")) / "old_synth.py"
    path.write_text(old_src)
    spec = importlib.util.spec_from_file_location("old_synth", path)
    assert spec and spec.loader
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_synth"] = old  # dataclasses look their module up
    spec.loader.exec_module(old)
    from voice.phrases import segments_for
    from voice.synth import Synthesizer

    out: dict[str, Any] = {"phase": f"before/after in one process (old = {commit})",
                           "calls": calls}
    halls = list(INTERLEAVED.values())
    for name, synth in (("old", old.Synthesizer()), ("new", Synthesizer())):
        counts = {"segments": 0, "wrong_rate": 0, "broken": 0}
        for i in range(calls):
            raw = halls[i % len(halls)]
            settings = parse_voice(raw)
            for seg in segments_for("call", f"{'ABCDEFGHJKLM'[i % 12]}{i % 1000:03d}",
                                    i % 12 + 1, settings):
                counts["segments"] += 1
                try:
                    pcm = synth.segment(seg.speech, seg.voice, settings.rate, settings.volume)
                except Exception:
                    counts["broken"] += 1
                    continue
                got = quality.measure(pcm.frames, pcm.rate)
                ref = quality.reference(seg.speech, seg.voice, settings.rate, settings.volume,
                                        pcm.rate)
                assert ref is not None, "the espeak-ng command is needed"
                ratio = got.samples / ref.samples
                if ratio < 0.8 or got.voiced < quality.MIN_VOICED:
                    counts["broken"] += 1
                elif abs(ratio - 1) > quality.LENGTH_TOLERANCE or abs(got.rms / ref.rms - 1) > 0.05:
                    counts["wrong_rate"] += 1
        out[name] = counts
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per latency phase")
    parser.add_argument("--jobs", type=int, default=150, help="announcements in the burst")
    parser.add_argument("--interleaved", type=int, default=500,
                        help="interleaved calls of four halls, checked for rate and breakage")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "voice.json"))
    parser.add_argument("--compare-old", metavar="COMMIT",
                        help="only compare that commit's voice/synth.py with the current one "
                             "in this process, on --interleaved calls")
    args = parser.parse_args()
    if args.compare_old:
        report = compare_old(args.compare_old, args.interleaved)
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    report = asyncio.run(main_async(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
