"""The audio cache (``<data dir>/audio/<sha256>.wav``) and the chime played before a call.

A cached file is named by the sha256 of what was spoken and how (``phrases.audio_key``),
so a phrase is synthesized once and the file never changes: it can be served with a
long cache lifetime. A file's mtime is its last use (the dispatcher touches it on a hit);
the worker prunes files unused for ``KEEP_UNUSED_DAYS``, which bounds the folder to the
phrases the halls really say (about 0.2-0.4 MB each), and then the least recently used
beyond ``KEEP_MAX_BYTES``, which bounds it whatever the number of voice settings
(measured: a busy district hall's calls plateau at ~1,330 files, ~560 MB, for one voice
setting; ``benchmarks/bench_audio.py``). A file pruned while still wanted is only
synthesized again. Files are written to a temporary name and renamed, so a reader never
sees half a file.

Only verified audio is put here (``voice.synth`` checks every segment first). A file found
bad later (``problem``: unreadable, too short, silent) is removed by whoever finds it and
made again: the dispatcher checks a file before announcing it, the worker before reusing it.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import struct
import tempfile
import wave
from pathlib import Path

from hall.services import Key
from voice.quality import MIN_SECONDS, MIN_VOICED, measure

KEY_RE = re.compile(r"[0-9a-f]{64}")
FILE_RE = re.compile(r"([0-9a-f]{64})\.wav")
AUDIO_URL_PREFIX = "/audio/"
CHIME_URL = "/audio/chime.wav"
KEEP_UNUSED_DAYS = 30
KEEP_MAX_BYTES = 4 * 2**30  # ~7 district voice settings at their 30-day plateau


def audio_url(key: str) -> str:
    return f"{AUDIO_URL_PREFIX}{key}.wav"


class AudioCache:
    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "audio"

    def path(self, key: str) -> Path:
        if not KEY_RE.fullmatch(key):
            raise ValueError(f"not an audio key: {key!r}")
        return self.dir / f"{key}.wav"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def use(self, key: str) -> bool:
        """True if cached; marks the file as used now (its mtime), for ``prune``."""
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            return False
        return True

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def problem(self, key: str, segments: int = 1) -> str | None:
        """Why the cached file must not be played (None when it may): a quick check that
        needs no reference, fit for the app's dispatcher (about 1 ms for a zh+en call)."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return "missing"
        return wav_problem(data, segments)

    def prune(self, unused_seconds: float, now: float,
              max_bytes: int = KEEP_MAX_BYTES) -> int:
        """Delete audio not used for ``unused_seconds`` (and stray temporary files), then the
        least recently used files until the rest holds at most ``max_bytes``."""
        removed = 0
        if not self.dir.is_dir():
            return 0
        kept: list[tuple[float, int, Path]] = []
        for path in self.dir.iterdir():
            if not (FILE_RE.fullmatch(path.name) or path.name.startswith(".tmp-")):
                continue
            try:
                stat = path.stat()
                if now - stat.st_mtime > unused_seconds:
                    path.unlink()
                    removed += 1
                elif FILE_RE.fullmatch(path.name):
                    kept.append((stat.st_mtime, stat.st_size, path))
            except FileNotFoundError:
                continue
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept, key=lambda k: k[0]):  # oldest use first
            if total <= max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        return removed

    def put(self, key: str, wav: bytes) -> Path:
        target = self.path(key)
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".wav")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(wav)
            os.chmod(tmp, 0o644)  # the app may run as another user than the worker
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def wav_problem(data: bytes, segments: int = 1) -> str | None:
    """A WAV that cannot be a whole announcement of ``segments`` segments, and why."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                return "not 16-bit mono audio"
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        return f"unreadable WAV: {exc}"
    m = measure(frames, rate)
    if m.seconds < MIN_SECONDS * segments:
        return f"too short for {segments} segment(s) ({m.seconds:.2f} s)"
    if m.voiced < MIN_VOICED:
        return f"silent ({m.voiced:.0%} voiced)"
    return None


@functools.cache
def chime_wav(rate: int = 22050) -> bytes:
    """A soft two-tone "ding-dong" (E6 then C6), about 1.2 s, as 16-bit mono WAV."""
    notes = ((1318.5, 0.0, 0.9), (1046.5, 0.45, 0.75))  # frequency, start, length (s)
    total = int(rate * 1.25)
    samples = [0.0] * total
    for freq, start, length in notes:
        first = int(start * rate)
        for i in range(int(length * rate)):
            if first + i >= total:
                break
            t = i / rate
            envelope = min(1.0, t / 0.01) * math.exp(-3.2 * t)
            tone = math.sin(2 * math.pi * freq * t) + 0.3 * math.sin(4 * math.pi * freq * t)
            samples[first + i] += 0.35 * envelope * tone
    peak = max(abs(s) for s in samples) or 1.0
    frames = struct.pack(f"<{total}h", *(int(s / peak * 0.6 * 32767) for s in samples))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


AUDIO: Key[AudioCache] = Key("voice.audio_cache")
