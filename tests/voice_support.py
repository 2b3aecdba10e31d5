"""Real parts for the voice tests: a ``hall worker`` process, WAV checks, stream waits."""

from __future__ import annotations

import io
import json
import math
import os
import struct
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis

from hall.config import HallConfig
from tests.support import ROOT
from ticketing.keys import HallKeys


@dataclass
class WorkerProcess:
    """``hall worker`` as a real process (RQ 3, forking a job process per job)."""

    redis_url: str
    data_dir: Path
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    faults: list[Fault] | None = None  # synthesis faults injected into the real worker

    def start(self) -> WorkerProcess:
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALL_DATA": str(self.data_dir)}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        command = [sys.executable, "-m", "hall.cli", "worker"]
        if self.faults:
            env[FAULTS_ENV] = json.dumps([f.__dict__ for f in self.faults])
            command = [sys.executable, "-m", "tests.voice_support", "worker"]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # registered with RQ = listening
            if any(k.startswith(b"rq:worker:") for k in client.scan_iter("rq:worker:*")):
                return self
            if self.process.poll() is not None:
                raise RuntimeError("hall worker exited at start")
            time.sleep(0.05)
        raise RuntimeError("hall worker did not register with RQ")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


FAULTS_ENV = "HALL_TEST_VOICE_FAULTS"


@dataclass
class Fault:
    """Spoil the engine's output for texts containing ``match``: its first ``times``
    renderings (all of them if times is 0). ``kind``: "empty" (0 samples, as a cancelled
    utterance), "half" (cut in the middle), "silence", "slow" (as if at another hall's
    rate: 12 % longer), "raise" (the engine reports an error)."""

    match: str
    kind: str
    times: int = 1


def _faulty_worker() -> int:
    """``hall worker`` with ``Synthesizer.render`` spoiled as HALL_TEST_VOICE_FAULTS says:
    everything after the engine (the checks, retries, cache, job) is the real code."""
    from hall.cli import main
    from voice.synth import Pcm, SynthesisError, Synthesizer

    faults = [Fault(**f) for f in json.loads(os.environ[FAULTS_ENV])]
    seen: dict[int, int] = {}
    real = Synthesizer.render

    def render(self: Synthesizer, text: str, voice: str, rate: int, volume: float) -> Pcm:
        pcm = real(self, text, voice, rate, volume)
        for i, fault in enumerate(faults):
            if fault.match not in text:
                continue
            seen[i] = seen.get(i, 0) + 1
            if fault.times and seen[i] > fault.times:
                continue
            if fault.kind == "raise":
                raise SynthesisError("injected engine error")
            frames = {"empty": b"", "half": pcm.frames[: len(pcm.frames) // 4 * 2],
                      "silence": b"\x00" * len(pcm.frames),
                      "slow": pcm.frames + pcm.frames[: len(pcm.frames) // 16 * 2]}[fault.kind]
            return Pcm(frames, pcm.rate)
        return pcm

    Synthesizer.render = render  # type: ignore[method-assign]
    return main(["worker"])


@dataclass(frozen=True)
class WavInfo:
    seconds: float
    rms: float  # of 16-bit samples, 0-32767
    voiced: float  # share of 20 ms frames louder than -40 dBFS


def wav_info(data: bytes) -> WavInfo:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        rate = w.getframerate()
        frames = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    if not samples:
        return WavInfo(0.0, 0.0, 0.0)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    step = max(1, rate // 50)
    windows = [samples[i:i + step] for i in range(0, len(samples), step)]
    loud = sum(1 for win in windows if max(abs(s) for s in win) > 328)  # -40 dBFS
    return WavInfo(len(samples) / rate, rms, loud / len(windows))


def with_voice(halls: dict[str, HallConfig], **voice: Any) -> dict[str, HallConfig]:
    """The halls with their [voice] tables updated (e.g. a short max age for a test)."""
    return {h: replace(cfg, voice={**cfg.voice, **voice}) for h, cfg in halls.items()}


@dataclass
class StreamWatch:
    """Read a hall's event stream from a point on, by a plain client (like a board)."""

    client: redis.Redis
    hall: str
    last: str = "0-0"
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def poll(self) -> None:
        for entry_id, fields in self.client.xrange(HallKeys(self.hall).events,
                                                   min=f"({self.last}" if self.last != "0-0"
                                                   else "-"):
            eid = entry_id.decode()
            self.seen.append((eid, fields[b"type"].decode(), json.loads(fields[b"data"])))
            self.last = eid

    def of_type(self, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        self.poll()
        return [(i, d) for i, t, d in self.seen if t == event_type]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 15.0
                 ) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.of_type(event_type)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


if __name__ == "__main__" and sys.argv[1:] == ["worker"]:
    sys.exit(_faulty_worker())


def expected_audio(segments: Any, rate: int, volume: float) -> tuple[int, float]:
    """(samples, rms) an announcement should have: each segment as the espeak-ng command
    says it at the hall's rate and volume (a fresh process: its own settings), joined by
    the worker's pause."""
    from voice import quality
    from voice.synth import GAP_SECONDS, SAMPLE_RATE

    total, energy = 0, 0.0
    for i, seg in enumerate(segments):
        ref = quality.reference(seg.speech, seg.voice, rate, volume, SAMPLE_RATE)
        assert ref is not None, "the espeak-ng command is needed for the reference"
        total += ref.samples + (int(GAP_SECONDS * SAMPLE_RATE) if i else 0)
        energy += ref.rms ** 2 * ref.samples
    return total, math.sqrt(energy / total)


def audio_problem(data: bytes, segments: Any, rate: int, volume: float,
                  length_tolerance: float = 0.03, level_tolerance: float = 0.05) -> str | None:
    """Why a cached WAV is not its announcement at its own hall's settings, or None."""
    from voice import quality

    with wave.open(io.BytesIO(data), "rb") as w:
        got = quality.measure(w.readframes(w.getnframes()), w.getframerate())
    samples, rms = expected_audio(segments, rate, volume)
    off = got.samples / samples - 1
    if abs(off) > length_tolerance:
        return f"length {off:+.1%} off the expected {samples / 22050:.2f} s"
    loud = got.rms / rms - 1
    if abs(loud) > level_tolerance:
        return f"level {loud:+.1%} off the expected"
    return None
