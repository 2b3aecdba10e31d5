"""The citizens of a simulated day: Poisson arrivals per matter and slot, each with its draws.

Rates are piecewise constant per slot (``DayProfile.slot_minutes``) and surge. Every
citizen's behaviour is drawn up front from one seeded generator, so a seed replays the
same day under every policy: service time (lognormal around the matter's mean with its
CV, or exponential), patience, whether they miss the call (and come back), leave
without telling, hold a green-channel or appointment priority, or are sent on to
another queue after their service. A booked citizen (``booked_share``) holds the slot of
the hall's ``[appointments]`` containing the time drawn and comes to check in around its
start (``checkin_offset_minutes``).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

from hall.config import HallConfig
from ticketing.calendars import hall_parts
from tide.hours import periods as opening_periods
from tide.profiles import Arrival, DayProfile

GREEN_GROUP = "elderly"


def _service(rng: random.Random, profile: DayProfile, mean_minutes: float, cv: float) -> float:
    mean = mean_minutes * 60.0
    if profile.exponential_service:
        return rng.expovariate(1.0 / mean)
    sigma = math.sqrt(math.log(1.0 + cv ** 2))
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def service_params(cfg: HallConfig, profile: DayProfile, matter: str) -> tuple[float, float]:
    """A matter's service time (mean minutes, CV) in this profile."""
    if matter in profile.service_by_matter:
        return profile.service_by_matter[matter]
    m = cfg.matter(matter)
    return (m.expected_minutes if m else 10.0), profile.service_cv


def generate_arrivals(cfg: HallConfig, profile: DayProfile, rng: random.Random) -> list[Arrival]:
    """Poisson arrivals, piecewise constant per slot and surge, with each citizen's draws."""
    if profile.steady_hours > 0:
        periods = [(0.0, profile.steady_hours)]
    elif profile.use_opening_hours:
        periods = opening_periods(cfg)
    else:
        periods = [(0.0, 24.0)]
    slot = profile.slot_minutes / 60.0
    cuts: set[float] = set()
    for a, b in periods:
        cuts.update({a, b, *(k * slot for k in range(math.ceil(a / slot), math.ceil(b / slot)))})
        cuts.update(x for s in profile.surges for x in (s.start_hour, s.end_hour) if a < x < b)
    edges = sorted(cuts)
    by_queue = {q.letter: next((m.code for m in cfg.matters if m.queue == q.letter), None)
                for q in cfg.queues}
    out: list[Arrival] = []
    for m in cfg.matters:
        mean, cv = service_params(cfg, profile, m.code)
        for lo, hi in itertools.pairwise(edges):
            if not any(a <= lo < b for a, b in periods):
                continue
            hour = 0.0 if profile.steady_hours > 0 else lo
            rate = profile.rate(m.code, hour) / 3600.0
            if rate <= 0:
                continue
            t = lo * 3600.0
            while True:
                t += rng.expovariate(rate)
                if t >= hi * 3600.0:
                    break
                out.append(_citizen(cfg, profile, rng, t, m.code, m.queue, mean, cv, by_queue))
    if profile.booked_share:
        out = [_checks_in(cfg, profile, rng, a) if a.slot_start is not None else a for a in out]
    out.sort(key=lambda a: a.at)
    return out


def _checks_in(cfg: HallConfig, profile: DayProfile, rng: random.Random, a: Arrival
               ) -> Arrival:
    """A booked citizen: the slot holding the time drawn, and when they come to check in."""
    slot = hall_parts(cfg)[2].slot_minutes * 60.0
    start = a.at // slot * slot
    mean, sd = profile.checkin_offset_minutes
    return replace(a, at=max(0.0, start + rng.gauss(mean, sd) * 60.0), slot_start=start)


def _citizen(cfg: HallConfig, profile: DayProfile, rng: random.Random, t: float, matter: str,
             queue: str, mean: float, cv: float, by_queue: dict[str, str | None]) -> Arrival:
    service = _service(rng, profile, mean, cv)
    floor = profile.patience_floor_minutes * 60.0
    patience = (math.inf if profile.patience_minutes is None
                else floor + rng.expovariate(
                    1.0 / max(1.0, profile.patience_minutes * 60.0 - floor)))
    no_show = rng.random() < profile.no_show_prob
    # draws made only when the profile asks for them, so older profiles replay unchanged
    kind = (rng.random() if profile.green_share or profile.appointment_share
            or profile.booked_share else 1.0)
    green = kind < profile.green_share
    appointment = not green and kind < profile.green_share + profile.appointment_share
    booked = not green and not appointment and kind < (
        profile.green_share + profile.appointment_share + profile.booked_share)
    silent = bool(profile.silent_leave_prob) and rng.random() < profile.silent_leave_prob
    rejoin = None
    if no_show and profile.rejoin_prob and rng.random() < profile.rejoin_prob:
        rejoin = profile.rejoin_after_minutes * 60.0
    to, extra = None, 0.0
    if profile.transfer_prob and rng.random() < profile.transfer_prob:
        to = profile.transfer_to.get(queue, "A" if queue != "A" else None)
        target = by_queue.get(to) if to else None
        if to is not None and target is not None:
            extra = _service(rng, profile, *service_params(cfg, profile, target))
        else:
            to = None
    return Arrival(t, matter, queue, service, patience, no_show,
                   t >= profile.warmup_hours * 3600.0, GREEN_GROUP if green else None,
                   appointment, silent, rejoin, to, extra, slot_start=t if booked else None)
