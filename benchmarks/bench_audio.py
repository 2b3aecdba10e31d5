"""Audio on disk: files and bytes a busy hall-day of calls adds to the voice cache, and its bound.

    .venv/bin/python benchmarks/bench_audio.py              # 60 simulated busy district days

The cache (``voice/audio.py``) holds one WAV per distinct phrase: what is said (ticket
number, window, kind) and how (voices, rate, volume), shared by every hall with the same
voice settings. So what decides its size is how many distinct phrases the calls of the
last ``KEEP_UNUSED_DAYS`` used (files unused that long are pruned), not how many calls.

The calls come from the tide simulator (``tide.sim``) on the district template's busy day
(``tide.profiles.district_peak_day``, ~260 tickets, 12 queues, 12 windows), one seed a
day, tide policy off: each called ticket (served or no-show) says "call <number> to
<window>". Their audio keys are the production ones (``voice.phrases``). The bytes per
file are measured by synthesizing a sample of those phrases with the real engine
(``voice.synth``, espeak-ng), checked as the worker checks them. The same is done for the
town's and the village's phrases (their languages differ).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from hall.config import HallConfig, load_hall
from hall.config.province import template_path
from tide.profiles import district_peak_day
from tide.settings import PolicyName, TideSettings
from tide.sim import simulate
from voice.audio import KEEP_UNUSED_DAYS, wav_problem
from voice.phrases import audio_key, segments_for
from voice.settings import VoiceSettings, parse_voice
from voice.synth import Synthesizer

ROOT = Path(__file__).resolve().parent.parent


def day_phrases(cfg: HallConfig, voice: VoiceSettings, seed: int) -> dict[str, tuple[str, int]]:
    """Audio key → (number, window) of every call of one simulated busy day."""
    day = simulate(cfg, TideSettings(policy=PolicyName.OFF), district_peak_day(cfg), seed)
    out = {}
    for t in day.tickets:
        if t.window is None or t.outcome not in ("served", "no_show"):
            continue
        segments = segments_for("call", t.number, t.window, voice)
        out[audio_key(segments, voice.rate, voice.volume)] = (t.number, t.window)
    return out


def file_bytes(voice: VoiceSettings, phrases: list[tuple[str, int]]) -> list[int]:
    """Sizes of the verified WAVs of ``phrases``, synthesized as the worker does."""
    sizes = []
    synth = Synthesizer()
    for number, window in phrases:
        wav = synth.speak(segments_for("call", number, window, voice), voice.rate,
                          voice.volume).wav()
        problem = wav_problem(wav, len(voice.languages))
        if problem:
            raise RuntimeError(f"bad audio for {number} at {window}: {problem}")
        sizes.append(len(wav))
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=60, help="simulated busy days")
    parser.add_argument("--sample", type=int, default=12, help="phrases synthesized per hall")
    args = parser.parse_args()
    started = time.process_time()
    district = load_hall(template_path("district", ROOT))
    voice = parse_voice(district.voice)
    last_used: dict[str, int] = {}
    per_day = []
    for day in range(args.days):
        keys = day_phrases(district, voice, seed=1000 + day)
        new = sum(1 for k in keys if k not in last_used)
        last_used.update(dict.fromkeys(keys, day))
        kept = sum(1 for d in last_used.values() if day - d < KEEP_UNUSED_DAYS)
        per_day.append({"day": day + 1, "calls": len(keys), "new_files": new,
                        "files_kept_after_prune": kept})
        print(f"day {day + 1}: {len(keys)} calls, {new} new files, {kept} kept", file=sys.stderr)
    rng = random.Random(0)
    seen = sorted({v for v in day_phrases(district, voice, seed=1000).values()})
    sizes = {"district": file_bytes(voice, rng.sample(seen, min(args.sample, len(seen))))}
    for name in ("town", "village"):
        cfg = load_hall(template_path(name, ROOT))
        v = parse_voice(cfg.voice)
        letters = [q.letter for q in cfg.queues]
        windows = [w.number for w in cfg.windows]
        sample = [(f"{rng.choice(letters)}{rng.randint(1, 200):03d}", rng.choice(windows))
                  for _ in range(args.sample)]
        sizes[name] = file_bytes(v, sample)
    mean = {k: round(statistics.mean(v)) for k, v in sizes.items()}
    steady = per_day[-1]["files_kept_after_prune"]
    first = per_day[0]
    print(json.dumps({
        "template": "district", "busy_day_calls_mean": round(statistics.mean(
            d["calls"] for d in per_day)),
        "bytes_per_file_mean": mean,
        "first_day_files": first["new_files"],
        "first_day_bytes": first["new_files"] * mean["district"],
        "new_files_per_day_last_week": round(statistics.mean(
            d["new_files"] for d in per_day[-7:]), 1),
        "files_kept_steady_state": steady,
        "bytes_kept_steady_state": steady * mean["district"],
        "keep_unused_days": KEEP_UNUSED_DAYS,
        "per_day": per_day,
        "cpu_seconds": round(time.process_time() - started, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

