"""Is a synthesized segment right? Non-empty, audible, as long and as loud as it should be.

The expected length of a segment comes from a *reference*: the same text, voice, rate and
volume spoken by Debian's ``espeak-ng`` command (a fresh process, so its settings cannot
be another phrase's). espeak-ng is deterministic: the in-process engine, when it used the
right settings, produces audio of the same length to within 2 % (measured: 0.0-1.9 %)
and the same loudness to within 1 %, while a neighbouring hall's rate (140 against 150
words/min) is 7 % off and a half-spoken segment far more. Without the command (not
installed) only the coarse checks run (non-empty, audible, at least ``MIN_SECONDS``),
and ``reference_start`` says so once in the log.

Pure except for ``reference`` (one short subprocess, ~10 ms, run while the engine speaks).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("voice.quality")

LENGTH_TOLERANCE = 0.03  # a segment within 3 % of its reference length is at its own rate
LOUDNESS_TOLERANCE = 0.05  # and its loudness (RMS) within 5 % of the reference's
MIN_SECONDS = 0.3  # shorter than any phrase a hall says
MIN_VOICED = 0.25  # share of 20 ms frames above -40 dBFS: less is silence or a click
VOICED_LEVEL = 328  # -40 dBFS of 16-bit samples
REFERENCE_TIMEOUT = 10.0
ESPEAK = "espeak-ng"
_warned: list[bool] = []


@dataclass(frozen=True)
class Measure:
    """What the checks need of 16-bit mono PCM."""

    samples: int
    rate: int
    rms: float  # loudness (espeak-ng renders the same text at the same volume to within 1 %)
    voiced: float

    @property
    def seconds(self) -> float:
        return self.samples / self.rate if self.rate else 0.0


def measure(frames: bytes, rate: int) -> Measure:
    """Length, voiced share (of 20 ms frames) and RMS of 16-bit mono PCM."""
    samples = np.frombuffer(frames[: len(frames) // 2 * 2], dtype="<i2").astype(np.int32)
    if not samples.size:
        return Measure(0, rate, 0.0, 0.0)
    step = max(1, rate // 50)
    padded = np.zeros(-(-samples.size // step) * step, dtype=np.int32)
    padded[: samples.size] = np.abs(samples)
    peaks = padded.reshape(-1, step).max(axis=1)
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return Measure(int(samples.size), rate, rms, float(np.mean(peaks > VOICED_LEVEL)))


@dataclass(frozen=True)
class Reference:
    """The reference rendering's figures (from the espeak-ng command)."""

    samples: int
    rms: float


def segment_problem(got: Measure, ref: Reference | None) -> str | None:
    """Why this segment must not be kept, or None when it is right."""
    if got.samples == 0:
        return "no audio (0 samples)"
    if got.voiced < MIN_VOICED:
        return f"silent ({got.voiced:.0%} of it voiced)"
    if got.seconds < MIN_SECONDS:
        return f"too short ({got.seconds:.2f} s)"
    if ref is None:
        return None
    off = got.samples / ref.samples - 1 if ref.samples else 1.0
    if abs(off) > LENGTH_TOLERANCE:
        return (f"{got.samples / got.rate:.2f} s long, expected {ref.samples / got.rate:.2f} s "
                f"({off:+.1%}: wrong rate or cut off)")
    loud = got.rms / ref.rms - 1 if ref.rms else 0.0
    if abs(loud) > LOUDNESS_TOLERANCE:
        return f"level {got.rms:.0f}, expected {ref.rms:.0f} ({loud:+.0%}: wrong volume)"
    return None


def espeak_command() -> str | None:
    return shutil.which(ESPEAK)


def reference_start(text: str, voice: str, rate: int, volume: float
                    ) -> subprocess.Popen[bytes] | None:
    """Start the reference rendering (it runs while the engine speaks); None without espeak-ng."""
    cmd = espeak_command()
    if cmd is None:
        if not _warned:
            _warned.append(True)
            log.warning("espeak-ng command not found: segment lengths are not checked "
                        "against a reference (install Debian's espeak-ng)")
        return None
    args = [cmd, "--stdout", "-v", voice, "-s", str(rate),
            "-a", str(round(volume * 100)), "--", text]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def reference_finish(proc: subprocess.Popen[bytes] | None, rate: int) -> Reference | None:
    """The reference's figures; None when there is none or it failed (then logged)."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=REFERENCE_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        log.warning("espeak-ng reference timed out")
        return None
    if proc.returncode != 0 or len(out) <= 44:
        log.warning("espeak-ng reference failed (exit %s)", proc.returncode)
        return None
    # --stdout writes a streaming WAV: a 44-byte header whose sizes are placeholders.
    m = measure(out[44:], rate)
    return Reference(m.samples, m.rms)


def reference(text: str, voice: str, rate: int, volume: float, sample_rate: int
              ) -> Reference | None:
    return reference_finish(reference_start(text, voice, rate, volume), sample_rate)
