"""The simulator over time: piecewise-constant arrivals and a staffing schedule against
the exact transient Markov chain (M(t)/M/c(t)).

One queue, exponential 10-minute services; arrivals 15 an hour 09:00-10:00, 20 an hour
10:00-11:00 and 6 an hour 11:00-12:00; two windows from 09:00, a third from 10:00. The
number waiting is a birth-death chain whose rates change on the hour: its distribution
at each time is p(t) = p(t0) · expm(Q · (t - t0)) hour by hour (scipy), truncated far
beyond any reachable queue. The simulator's mean number waiting over many seeded days
must lie within four standard errors of the chain's expectation at every checkpoint.
"""

from __future__ import annotations

import math
from statistics import fmean, stdev

import numpy as np
from scipy.linalg import expm

from hall.config import HallConfig, parse_hall
from tide.profiles import DayProfile, Shift
from tide.settings import PolicyName, TideSettings
from tide.sim import Simulation

SERVICE_MIN = 10.0
RATES = {9: 15.0, 10: 20.0, 11: 6.0}  # arrivals per hour
SERVERS = {9: 2, 10: 3, 11: 3}
CHECKS = [9.5, 10.0, 10.5, 11.0, 11.5]  # hours at which the number waiting is compared
TRUNCATE = 120
DAYS = 300
TICK = 300.0


def hall() -> HallConfig:
    return parse_hall({
        "hall": {"id": "mt", "name_zh": "测试", "name_en": "Test", "level": "village",
                 "timezone": "Asia/Shanghai", "hours": {"periods": ["09:00-12:00"]}},
        "queues": [{"letter": "A", "name_zh": "综合", "name_en": "General"}],
        "matters": [{"code": "X", "name_zh": "事项", "name_en": "Matter", "queue": "A",
                     "expected_minutes": SERVICE_MIN}],
        "windows": [{"number": n, "name_zh": f"{n}号", "name_en": f"No. {n}",
                     "kind": "no_difference", "queues": ["A"]} for n in (1, 2, 3)],
        "staff": [{"id": f"S{n}", "name": f"员工{n}", "staff_number": f"N{n}"}
                  for n in (1, 2, 3)],
    })


def generator(lam: float, mu: float, c: int) -> np.ndarray:
    """Birth-death generator on 0..TRUNCATE people in the hall (per hour)."""
    q = np.zeros((TRUNCATE + 1, TRUNCATE + 1))
    for n in range(TRUNCATE + 1):
        if n < TRUNCATE:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, c) * mu
        q[n, n] = -q[n].sum()
    return q


def exact_mean_waiting() -> dict[float, float]:
    """E[number waiting] at each checkpoint, from the transient chain."""
    mu = 60.0 / SERVICE_MIN
    p = np.zeros(TRUNCATE + 1)
    p[0] = 1.0
    out: dict[float, float] = {}
    t = 9.0
    for check in CHECKS:
        while t < check - 1e-9:
            hour = math.floor(t + 1e-9)
            step = min(check, hour + 1.0) - t
            p = p @ expm(generator(RATES[hour], mu, SERVERS[hour]) * step)
            t += step
        c = SERVERS[math.floor(check + 1e-9)] if check < 12 else 3
        out[check] = float(sum(max(0, n - c) * pn for n, pn in enumerate(p)))
        assert p[-10:].sum() < 1e-9  # the truncation is far beyond the reachable
    return out


def simulated_waiting(cfg: HallConfig) -> dict[float, list[int]]:
    profile = DayProfile(
        hourly={"X": tuple(RATES.get(h, 0.0) for h in range(24))}, exponential_service=True,
        service_cv=1.0, no_show_prob=0.0, walk_seconds=0.0, patience_minutes=None,
        roster=(Shift(1, "S1", 9.0, 12.0), Shift(2, "S2", 9.0, 12.0),
                Shift(3, "S3", 10.0, 12.0)))
    off = TideSettings(policy=PolicyName.OFF)
    seen: dict[float, list[int]] = {c: [] for c in CHECKS}
    for seed in range(1, DAYS + 1):
        day = Simulation(cfg, off, profile, seed, tick_seconds=TICK).run()
        at = {round(s.at / 3600, 4): s.waiting["A"] for s in day.samples}
        for c in CHECKS:
            seen[c].append(at.get(c, 0))  # no sample: the day had already emptied out
    return seen


def test_piecewise_arrivals_and_a_staffing_schedule_match_the_transient_chain() -> None:
    exact = exact_mean_waiting()
    assert exact[10.0] > 2.0 and exact[11.5] < exact[11.0]  # builds up, then drains
    seen = simulated_waiting(hall())
    for check in CHECKS:
        values = seen[check]
        mean, se = fmean(values), stdev(values) / math.sqrt(len(values))
        assert se > 0 and abs(mean - exact[check]) < 4 * se, (check, mean, exact[check], se)
