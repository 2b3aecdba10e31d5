"""Tomorrow's staffing plan: per half hour, which windows to staff to meet the wait target
at the fewest window-hours, found and checked with the simulator.

The general pool is the windows that serve the no-difference queues (no-difference and
tide windows, in that order); domain and specialty windows stay as rostered. Starting
from the whole pool staffed in every half hour of the opening periods, the planner takes
windows away, one per half hour per round, least-loaded half hours first, as long as
the simulated days of ``search_seeds`` still meet the target with a margin (P90 wait
≤ 0.8 × target on every one of them, or on as many as the whole pool manages). The
plan is then checked on other days drawn from the same forecast (``check_seeds``): its
hit rate is the share of those days whose P90 meets the target. Beside it, today's
roster (the whole pool all day, the tide controller in auto mode) on the same days.

On validation days the cut plan must hold; if it does not, the whole pool all day is
tried instead. Where neither beats today's roster, the plan *is* today's roster
(``fallback``): when the plan misses the target on more than 10 % of the validation days and today's
roster meets it on more of them, or on as many with a shorter P90 (the controller also
lends windows, which a fixed plan does not; where the whole pool cannot keep under the
target, taking windows away only loses). That choice is made on validation days
(``validate_seeds``: neither searched on nor checked: a plan fitted to a few search
days shows it there); the check days judge it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hall.config import HallConfig, WindowKind
from hall.text import hours_of
from tide.profiles import DayProfile, Shift
from tide.report import percentile
from tide.settings import Mode, PolicyName, TideSettings
from tide.sim import DayResult, Simulation

HALF = 0.5
HIT_TARGET = 0.9  # the plan meets its target on at least this share of days
MARGIN = 0.8  # while searching, each day must keep its P90 under this share of the target


@dataclass(frozen=True)
class PlanSlot:
    start_hour: float
    windows: tuple[int, ...]  # pool windows staffed in this half hour
    clerks: tuple[str, ...]  # who staffs them (standby clerks for tide windows)
    arrivals: float  # expected tickets in the half hour (whole hall)


@dataclass(frozen=True)
class Outcome:
    p90_min: float  # mean over days of the day's P90 wait
    mean_min: float
    window_hours: float
    hit_rate: float  # share of days whose P90 meets the target


@dataclass(frozen=True)
class Plan:
    hall: str
    target_minutes: float
    slots: tuple[PlanSlot, ...]
    fixed_windows: tuple[int, ...]  # domain / specialty windows staffed as rostered
    planned: Outcome
    today: Outcome  # today's roster with the tide controller, on the same days
    feasible: bool = True  # False: even the whole pool all day misses on > 10 % of days
    fallback: bool = False  # True: the plan could not beat today's roster, so it is that

    def to_dict(self) -> dict[str, object]:
        return {"hall": self.hall, "target_minutes": self.target_minutes,
                "fixed_windows": list(self.fixed_windows),
                "slots": [{"start": _hhmm(s.start_hour), "windows": list(s.windows),
                           "clerks": list(s.clerks), "expected_tickets": round(s.arrivals, 1)}
                          for s in self.slots],
                "planned": vars(self.planned), "today": vars(self.today),
                "feasible": self.feasible, "fallback": self.fallback}


def _hhmm(hour: float) -> str:
    minutes = round(hour * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def half_hours(cfg: HallConfig) -> list[float]:
    """Start hours of the half hours inside the opening periods."""
    out: list[float] = []
    for a, b in cfg.hours.periods:
        t = hours_of(a)
        while t < hours_of(b) - 1e-9:
            out.append(t)
            t += HALF
    return out


def pool_windows(cfg: HallConfig) -> list[int]:
    nd = [w.number for w in cfg.windows if w.kind is WindowKind.NO_DIFFERENCE]
    tide = [w.number for w in cfg.windows if w.kind is WindowKind.TIDE]
    return nd + tide


class Planner:
    """Searches and checks a plan for one hall and one forecast day profile."""

    def __init__(self, cfg: HallConfig, profile: DayProfile, settings: TideSettings,
                 search_seeds: Sequence[int] = range(1, 7),
                 check_seeds: Sequence[int] = range(1001, 1021),
                 validate_seeds: Sequence[int] | None = None) -> None:
        self.cfg, self.profile = cfg, profile
        self.settings = replace(settings, mode=Mode.AUTO)
        self.search_seeds, self.check_seeds = list(search_seeds), list(check_seeds)
        self.validate_seeds = (list(validate_seeds) if validate_seeds is not None
                               else [s + 500 for s in self.search_seeds])
        self.target = cfg.rules.wait_target_minutes
        self.slots = half_hours(cfg)
        self.pool = pool_windows(cfg)
        base = Simulation(cfg, replace(settings, policy=PolicyName.OFF), profile, 0,
                          arrivals=[]).roster()
        self.fixed = tuple(s for s in base if s.window not in self.pool)
        taken = {s.clerk for s in base}
        self.clerk: dict[int, str] = {s.window: s.clerk for s in base if s.window in self.pool}
        for n in self.pool:
            if n not in self.clerk:
                standby = next((s.id for s in cfg.staff if s.may_staff(n) and s.id not in taken),
                               None)
                if standby is not None:
                    self.clerk[n] = standby
                    taken.add(standby)
        self.pool = [n for n in self.pool if n in self.clerk]
        self.evaluations = 0
        self.required = HIT_TARGET
        self.feasible = True
        self.full_hit = 1.0  # the whole pool all day: share of search days meeting the target
        self.validated: tuple[Outcome, Outcome] | None = None  # (plan, today's roster)

    def expected_arrivals(self, start: float) -> float:
        """Tickets expected in the half hour from ``start`` (rates read every 5 minutes)."""
        steps = 6
        return sum(self.profile.rate(m, start + HALF * (i + 0.5) / steps) * HALF / steps
                   for m in self.profile.hourly for i in range(steps))

    def roster(self, counts: Sequence[int]) -> tuple[Shift, ...]:
        """Shifts for the fixed windows and, per pool window, its runs of staffed half hours
        (a run ending inside an opening period hands over; at its end the window serves out)."""
        ends = {hours_of(b) for _, b in self.cfg.hours.periods}
        shifts = list(self.fixed)
        for i, n in enumerate(self.pool):
            run: tuple[float, float] | None = None
            for k, start in enumerate(self.slots):
                if counts[k] <= i:
                    continue
                if run is not None and math.isclose(run[1], start):
                    run = (run[0], start + HALF)
                    continue
                if run is not None:
                    shifts.append(Shift(n, self.clerk[n], *run, serve_out=run[1] in ends))
                run = (start, start + HALF)
            if run is not None:
                shifts.append(Shift(n, self.clerk[n], *run, serve_out=run[1] in ends))
        return tuple(shifts)

    def days(self, counts: Sequence[int] | None, seeds: Sequence[int]) -> list[DayResult]:
        """Simulated days under a plan (policy off), or under today's roster and controller."""
        self.evaluations += 1
        if counts is None:
            return [Simulation(self.cfg, self.settings, self.profile, s).run() for s in seeds]
        profile = replace(self.profile, roster=self.roster(counts))
        off = replace(self.settings, policy=PolicyName.OFF)
        return [Simulation(self.cfg, off, profile, s).run() for s in seeds]

    def outcome(self, days: list[DayResult], margin: float = 1.0) -> Outcome:
        p90s = [percentile([r.wait / 60 for r in d.tickets if r.counted], 0.9) for d in days]
        means = [sum(r.wait for r in d.tickets if r.counted) / 60
                 / max(1, sum(1 for r in d.tickets if r.counted)) for d in days]
        hours = [sum(d.window_seconds.values()) / 3600 for d in days]
        n = max(1, len(days))
        return Outcome(sum(p90s) / n, sum(means) / n, sum(hours) / n,
                       sum(p <= self.target * margin for p in p90s) / n)

    def meets(self, counts: Sequence[int]) -> bool:
        """Whether a plan keeps the search days under the target with a margin (the search
        days are few; without one, the plan fits them and misses on other days)."""
        days = self.days(counts, self.search_seeds)
        return self.outcome(days, MARGIN).hit_rate >= self.required

    def search(self) -> list[int]:
        """Fewest pool windows per half hour keeping the hit rate on the search days at
        0.9, or at what the whole pool reaches when even that falls short."""
        counts = [len(self.pool)] * len(self.slots)
        full = self.outcome(self.days(counts, self.search_seeds), MARGIN).hit_rate
        self.full_hit = self.outcome(self.days(counts, self.search_seeds)).hit_rate
        self.feasible = full >= HIT_TARGET
        self.required = min(HIT_TARGET, full) - 1e-9
        order = sorted(range(len(self.slots)), key=lambda k: self.expected_arrivals(
            self.slots[k]))
        # Rounds: each takes at most one window from each half hour (least loaded first),
        # so the cuts spread over the day instead of draining the first half hours tried.
        changed = True
        while changed:
            changed = False
            for k in order:
                if counts[k] <= 1:
                    continue
                trial = list(counts)
                trial[k] -= 1
                if self.meets(trial):
                    counts, changed = trial, True
        return counts

    def plan(self) -> Plan:
        counts = self.search()
        # On the validation days: the plan found, or the whole pool all day when the cut
        # plan does not hold there; today's roster when neither beats it.
        full = [len(self.pool)] * len(self.slots)
        mine = self.outcome(self.days(counts, self.validate_seeds))
        if mine.hit_rate < HIT_TARGET and counts != full:
            whole = self.outcome(self.days(full, self.validate_seeds))
            if (whole.hit_rate, -whole.p90_min) > (mine.hit_rate, -mine.p90_min):
                counts, mine = full, whole
        theirs = self.outcome(self.days(None, self.validate_seeds))
        self.validated = (mine, theirs)
        fallback = mine.hit_rate < HIT_TARGET and (
            mine.hit_rate < theirs.hit_rate
            or (mine.hit_rate == theirs.hit_rate and mine.p90_min > theirs.p90_min))
        today = self.outcome(self.days(None, self.check_seeds))
        if fallback:
            tide = {w.number for w in self.cfg.windows if w.kind is WindowKind.TIDE}
            counts = [sum(1 for n in self.pool if n not in tide)] * len(self.slots)
            planned = today
        else:
            planned = self.outcome(self.days(counts, self.check_seeds))
        slots = tuple(PlanSlot(start, tuple(self.pool[:c]),
                               tuple(self.clerk[n] for n in self.pool[:c]),
                               self.expected_arrivals(start))
                      for start, c in zip(self.slots, counts, strict=True))
        return Plan(self.cfg.id, self.target, slots,
                    tuple(sorted({s.window for s in self.fixed})), planned, today,
                    self.feasible, fallback)


def plan_table(plan: Plan) -> str:
    lines = [f"hall {plan.hall}: staffing plan for a P90 wait ≤ {plan.target_minutes:g} min",
             f"domain / specialty windows as rostered: {', '.join(map(str, plan.fixed_windows))}",
             "", "time    tickets  general windows        clerks"]
    for s in plan.slots:
        lines.append(f"{_hhmm(s.start_hour)}  {s.arrivals:>7.1f}  "
                     f"{','.join(map(str, s.windows)):<22} {','.join(s.clerks)}")
    p, t = plan.planned, plan.today
    lines += ["",
              f"under the plan:   P90 {p.p90_min:.1f} min, mean {p.mean_min:.1f} min, "
              f"{p.window_hours:.1f} window-hours, target met on {p.hit_rate:.0%} of days",
              f"today's roster:   P90 {t.p90_min:.1f} min, mean {t.mean_min:.1f} min, "
              f"{t.window_hours:.1f} window-hours, target met on {t.hit_rate:.0%} of days"]
    if plan.fallback:
        lines.append("the plan cannot beat today's roster on the validation days: keep today's "
                     "roster (general windows above all day, the tide windows by the "
                     "controller)")
    if not plan.feasible:
        lines.append("note: even every general window staffed all day misses the target on "
                     "more than 10 % of the search days; the plan keeps what that reaches "
                     "(domain windows or more windows would be needed)")
    return "\n".join(lines)
