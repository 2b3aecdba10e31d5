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

    def start(self) -> WorkerProcess:
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALL_DATA": str(self.data_dir)}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-m", "hall.cli", "worker"],
                                        env=env, cwd=ROOT, stdout=log, stderr=log)
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
