"""The simulator agrees with queueing theory where exact answers exist (M/M/c and M/M/c+M).

The simulator runs the real call-next rule and ticket model; these checks compare its
steady state with Erlang C and with the birth-death chain of Erlang A, within the
run's own statistical error (batch means over 20 batches, 4 standard errors).
"""

from __future__ import annotations

import math
from statistics import fmean, stdev

from hall.config import HallConfig, parse_hall
from tide.policy import erlang_c_wait
from tide.profiles import steady_profile
from tide.settings import PolicyName, TideSettings
from tide.sim import TicketRecord, simulate

BATCHES = 20


def one_queue_hall(servers: int, service_minutes: float) -> HallConfig:
    return parse_hall({
        "hall": {"id": "mmc", "name_zh": "测试", "name_en": "Test", "level": "village",
                 "timezone": "Asia/Shanghai"},
        "queues": [{"letter": "A", "name_zh": "综合", "name_en": "General"}],
        "matters": [{"code": "X", "name_zh": "事项", "name_en": "Matter", "queue": "A",
                     "expected_minutes": service_minutes}],
        "windows": [{"number": n, "name_zh": f"{n}号", "name_en": f"No. {n}",
                     "kind": "no_difference", "queues": ["A"]} for n in range(1, servers + 1)],
        "staff": [{"id": f"S{n}", "name": f"员工{n}", "staff_number": f"N{n}"}
                  for n in range(1, servers + 1)],
    })


def erlang_c_probability(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def erlang_a(lam: float, mu: float, theta: float, c: int) -> tuple[float, float, float]:
    """P(wait > 0), P(abandon) and mean time in queue, from the birth-death chain (truncated
    where the tail is negligible)."""
    weights = [1.0]
    for n in range(1, c + 2000):
        death = min(n, c) * mu + max(0, n - c) * theta
        weights.append(weights[-1] * lam / death)
        if weights[-1] < 1e-16 * max(weights):
            break
    total = sum(weights)
    p = [w / total for w in weights]
    p_wait = sum(p[c:])
    queue_len = sum((n - c) * pn for n, pn in enumerate(p) if n > c)
    return p_wait, theta * queue_len / lam, queue_len / lam


def batches(records: list[TicketRecord], value) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    counted = sorted((r for r in records if r.counted), key=lambda r: r.arrived)
    size = len(counted) // BATCHES
    means = [fmean(value(r) for r in counted[i * size:(i + 1) * size]) for i in range(BATCHES)]
    return fmean(means), stdev(means) / math.sqrt(BATCHES)


def run(servers: int, service_minutes: float, per_hour: float, hours: float,
        patience: float | None, seed: int) -> list[TicketRecord]:
    cfg = one_queue_hall(servers, service_minutes)
    profile = steady_profile("X", per_hour, hours, warmup_hours=hours / 20,
                             patience_minutes=patience)
    day = simulate(cfg, TideSettings(policy=PolicyName.OFF), profile, seed,
                   tick_seconds=hours * 3600)
    return day.tickets


def test_erlang_c_helper_matches_the_textbook_value() -> None:
    # c = 2, a = 1 erlang: P(wait) = 1/3, Wq = P(wait) / (c mu - lam) = 1/3 per unit time.
    assert math.isclose(erlang_c_probability(1.0, 1.0, 2), 1 / 3)
    assert math.isclose(erlang_c_wait(1.0, 1.0, 2.0), 1 / 3)


def test_simulated_mmc_matches_erlang_c() -> None:
    c, service, per_hour = 3, 6.0, 25.0  # a = 2.5 erlangs, utilisation 0.83
    records = run(c, service, per_hour, hours=600, patience=None, seed=7)
    lam, mu = per_hour / 60.0, 1.0 / service
    p_theory = erlang_c_probability(lam, mu, c)
    wq_theory = erlang_c_wait(lam / 60.0, service * 60.0, float(c)) / 60.0
    p_sim, p_se = batches(records, lambda r: 1.0 if r.wait > 1e-9 else 0.0)
    wq_sim, wq_se = batches(records, lambda r: r.wait / 60.0)
    assert all(r.outcome == "served" for r in records)
    assert p_se < 0.03 and wq_se < 0.15 * wq_theory  # the run is long enough to tell
    assert abs(p_sim - p_theory) < 4 * p_se, (p_sim, p_theory, p_se)
    assert abs(wq_sim - wq_theory) < 4 * wq_se, (wq_sim, wq_theory, wq_se)


def test_simulated_mmc_with_abandonment_matches_erlang_a() -> None:
    c, service, per_hour, patience = 2, 10.0, 15.0, 20.0  # overloaded: a = 2.5 > c
    records = run(c, service, per_hour, hours=800, patience=patience, seed=11)
    lam, mu, theta = per_hour / 60.0, 1.0 / service, 1.0 / patience
    p_wait, p_abandon, wq = erlang_a(lam, mu, theta, c)
    sim_wait, se_wait = batches(records, lambda r: 1.0 if r.wait > 1e-9 else 0.0)
    sim_ab, se_ab = batches(records, lambda r: 1.0 if r.outcome == "abandoned" else 0.0)
    sim_wq, se_wq = batches(records, lambda r: r.wait / 60.0)
    assert 0.1 < p_abandon < 0.4 and se_ab < 0.03
    assert abs(sim_wait - p_wait) < 4 * se_wait, (sim_wait, p_wait, se_wait)
    assert abs(sim_ab - p_abandon) < 4 * se_ab, (sim_ab, p_abandon, se_ab)
    assert abs(sim_wq - wq) < 4 * se_wq, (sim_wq, wq, se_wq)
