"""Simulated days pinned exactly: a speed-up of the simulator or of the production code it
runs (routing, model, estimate, load, policy) must not change a single call or decision.

Each golden is a digest of everything a day produced: every ticket leg (number, outcome,
window, wait and quote to the millisecond), every tide decision, proposal and refusal,
and each window's open time. A change of behaviour made on purpose changes the digests:
check the change is the one meant (``bench_tide.py --quick`` before and after), then put
the new digests, which the failure prints, here.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from hall.config import HallConfig
from tide.profiles import DayProfile
from tide.settings import Mode, PolicyName, TideSettings, parse_tide
from tide.shapes import SHAPES, day_of, history_shape
from tide.sim import DayResult, Simulation

GOLDEN = {
    ("district", "off", 1): "afd4ede053b98917",
    ("district", "threshold", 1): "f9e1565710958d4e",
    ("district", "predictive", 1): "4b4895158a3ab705",
    ("district", "predictive", 102): "61ece1c9a2fc57f9",
    ("district", "advise", 2): "3772461a1acdf99c",
    ("town", "predictive", 3): "a273ca9f8fe0a3f2",
}


def realistic(profile: DayProfile) -> DayProfile:
    """The benchmark's day: priorities, booked appointments, transfers, re-joins, silent
    leavers (``benchmarks/bench_tide.py``)."""
    return replace(profile, green_share=0.05, booked_share=0.05, transfer_prob=0.03,
                   rejoin_prob=0.3, silent_leave_prob=0.3)


def settings_for(cfg: HallConfig, policy: str, profile: DayProfile) -> TideSettings:
    base = parse_tide(cfg.tide).with_(mode=Mode.AUTO)
    if policy == "off":
        return base.with_(policy=PolicyName.OFF)
    if policy == "threshold":
        return base.with_(policy=PolicyName.THRESHOLD, open_waiting=6, open_wait_minutes=10,
                          close_waiting=1, close_wait_minutes=3)
    predictive = base.with_(policy=PolicyName.PREDICTIVE,
                            hourly_profile=history_shape(cfg, profile))
    return predictive.with_(mode=Mode.ADVISE) if policy == "advise" else predictive


def digest(day: DayResult) -> str:
    lines = [f"{r.number} {r.leg} {r.queue} {r.outcome} {r.window} {r.wait:.3f} "
             f"{'-' if r.quoted is None else f'{r.quoted:.3f}'} {r.priority}"
             for r in day.tickets]
    for name, happened in (("decided", day.decisions), ("proposed", day.proposals),
                           ("refused", day.refused)):
        lines += [f"{name} {t:.3f} {d.action.value} {d.window} {','.join(d.queues)} {d.clerk}"
                  for t, d in happened]
    lines += [f"window {n} {s:.3f}" for n, s in sorted(day.window_seconds.items())]
    lines += [f"samples {len(day.samples)} end {day.end:.3f}"]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@pytest.mark.parametrize(("hall", "policy", "seed"), list(GOLDEN))
def test_a_simulated_day_is_exactly_the_pinned_one(
        halls: dict[str, HallConfig], hall: str, policy: str, seed: int) -> None:
    cfg = halls[hall]
    profile = realistic(day_of(cfg, SHAPES["double"]))
    day = Simulation(cfg, settings_for(cfg, policy, profile), profile, seed).run()
    assert day.tickets and (policy == "off" or day.decisions or day.proposals)
    assert digest(day) == GOLDEN[(hall, policy, seed)], (
        f"{hall} {policy} seed {seed}: the day changed (new digest {digest(day)})")
