"""Tomorrow's staffing plan: per half hour, which windows to staff to meet the wait target
at the fewest window-hours, found and checked with the simulator.

What the plan may change is what the hall file allows:

* the general pool: the windows that serve the no-difference queues (no-difference and
  tide windows, in that order), staffed per half hour by their rostered or standby clerks;
* domain queues (社保, 医保, 税务 …, and specialty ones), through *assignments*, all day: a
  tide window that serves the queue serves it first; a ``lendable`` window also serves it,
  after its own queues (as the tide controller lends it); a spare window of the queue that
  today's roster leaves closed is staffed by a standby clerk who may staff it (per half
  hour, like the pool).

Other domain and specialty windows stay as rostered. The search:

1. *Reach.* Every window the plan may staff, all day. While that misses the target with a
   margin on the search days (P90 wait ≤ 0.8 × target on 90 % of them), the assignment
   that helps most is added, among those serving the queues that hold most of the
   tickets over the target. If even then the hall misses on more than 10 % of the days,
   the target is not reachable with the hall's windows: the plan says so and by how much
   (``Reach``: the share of other days met, the P90 of the worst tenth of days, and the
   queues whose tickets wait over the target), and keeps what it can reach.
2. *Cut, one window-half-hour at a time, each cut validated.* Every staffed
   window-half-hour the plan may take away is tried in order of least expected harm (the
   load per window left in that half hour, measured on every window all day's search
   days). A cut is kept only if the plan with it still *holds*: on the search days, then
   on the validation days (``validate_seeds``, never searched on), each day paired with
   every window all day on the same simulated citizens, its P90 rises by at most
   ``SLACK_MINUTES`` (or stays under ``LOW`` × the target: a quiet day), and no day that
   met the target misses it. The plan therefore meets the target on the validation
   days (as every window all day does) with a margin, while the quiet half hours lose
   windows that the busy ones keep. A half hour whose cut does not hold keeps its windows.
   Cuts go in batches, doubled while they hold and halved when not; a trial stops at its
   first day that does not hold (days hardest first); each seed's citizens are drawn once.
3. *Fallback.* Where the plan misses the target on more than 10 % of the validation days
   and today's roster (the tide controller in auto mode, which also opens and lends
   windows) meets it on more of them, or on as many with a shorter P90, the plan *is*
   today's roster (``fallback``).
4. *Check.* The plan's hit rate is the share of other days drawn from the same forecast
   (``check_seeds``) whose P90 meets the target; beside it, today's roster on the same days.

``Plan.to_dict`` is what ``hall plan --json`` prints, ``--save`` keeps for the dashboard
and ``plan_table`` prints: the CLI and the dashboard's panel show the same body.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from hall.config import HallConfig, WindowKind
from hall.text import hours_of
from tide.arrivals import generate_arrivals, service_params
from tide.profiles import Arrival, DayProfile, Shift
from tide.report import percentile
from tide.settings import Mode, PolicyName, TideSettings
from tide.sim import DayResult, Simulation

HALF = 0.5
HIT_TARGET = 0.9  # the plan meets its target on at least this share of days
MARGIN = 0.8  # reach: every window all day keeps the P90 under this share of the target
# A cut holds on a day (paired with every window all day, same citizens) whose P90 stays
# within SLACK_MINUTES of every window all day's, or under LOW × the target (a quiet day).
# Letting quiet days give up part of their room under 0.8 × the target (a half, a
# quarter) lost judged days: the cuts chosen on 16 days shift other days further.
SLACK_MINUTES = 0.25
LOW = 1 / 3
FIRST_BATCH = 2  # cuts tried together at first (doubled while they hold, halved if not)
HOT_QUEUES = 3  # assignments are tried for the queues holding most tickets over the target
GENERAL = "general"

Counts = dict[str, list[int]]  # group -> windows staffed per half hour


@dataclass(frozen=True)
class PlanSlot:
    start_hour: float
    windows: tuple[int, ...]  # planned windows staffed in this half hour
    clerks: tuple[str, ...]  # who staffs them (standby clerks for tide and spare windows)
    arrivals: float  # expected tickets in the half hour (whole hall)
    kinds: tuple[tuple[str, int], ...] = ()  # (no_difference | tide | domain:<queue>, count)
    # P90 wait (min) of the tickets issued in the half hour, on the check days: under the
    # plan and under today's roster
    p90_min: float | None = None
    today_p90_min: float | None = None


@dataclass(frozen=True)
class Assignment:
    """A window the plan sets to serve a domain queue all day, as the hall file allows."""

    window: int
    queue: str  # the domain queue it takes on
    queues: tuple[str, ...]  # what the window serves, in call order
    clerk: str
    how: str  # first: a tide window serves it first | lend: a lendable window also serves
    #           it | spare: a window of that queue left closed today, with a standby clerk


@dataclass(frozen=True)
class Reach:
    """What every window the plan may staff, all day, reaches on the check days."""

    reachable: bool  # the target met on at least 90 % of the days
    hit_rate: float
    p90_tenth_min: float  # the P90 wait of the day at the 90th percentile of days
    over_queues: tuple[tuple[str, float], ...]  # queues with the tickets over the target
    #                                              (their share of them), most first


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
    feasible: bool = True  # False: even every window all day misses on > 10 % of days
    fallback: bool = False  # True: the plan could not beat today's roster, so it is that
    assignments: tuple[Assignment, ...] = ()
    reach: Reach | None = None
    notes: tuple[tuple[str, str], ...] = ()  # (zh, en) lines shown under the plan

    def to_dict(self) -> dict[str, Any]:
        return {"hall": self.hall, "target_minutes": self.target_minutes,
                "fixed_windows": list(self.fixed_windows),
                "slots": [{"start": _hhmm(s.start_hour), "windows": list(s.windows),
                           "clerks": list(s.clerks), "expected_tickets": round(s.arrivals, 1),
                           "kinds": dict(s.kinds), "p90_min": s.p90_min,
                           "today_p90_min": s.today_p90_min}
                          for s in self.slots],
                "planned": vars(self.planned), "today": vars(self.today),
                "feasible": self.feasible, "fallback": self.fallback,
                "assignments": [{**asdict(a), "queues": list(a.queues)}
                                for a in self.assignments],
                "reach": None if self.reach is None else {
                    **asdict(self.reach),
                    "over_queues": [{"queue": q, "share": round(v, 3)}
                                    for q, v in self.reach.over_queues]},
                "notes": [{"zh": zh, "en": en} for zh, en in self.notes]}


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
    tide = [w.number for w in cfg.tide_windows]
    return nd + tide


def day_p90(day: DayResult) -> float:
    return percentile([r.wait / 60 for r in day.tickets if r.counted], 0.9)


class Planner:
    """Searches and checks a plan for one hall and one forecast day profile."""

    def __init__(self, cfg: HallConfig, profile: DayProfile, settings: TideSettings,
                 search_seeds: Sequence[int] = range(1, 7),
                 check_seeds: Sequence[int] = range(1001, 1021),
                 validate_seeds: Sequence[int] | None = None) -> None:
        self.cfg, self.profile = cfg, profile
        self.settings = replace(settings, mode=Mode.AUTO)
        self.off = replace(self.settings, policy=PolicyName.OFF)
        self.search_seeds, self.check_seeds = list(search_seeds), list(check_seeds)
        self.validate_seeds = (list(validate_seeds) if validate_seeds is not None
                               else [s + 500 for s in self.search_seeds])
        self.target = cfg.rules.wait_target_minutes
        self.slots = half_hours(cfg)
        pool = pool_windows(cfg)
        base = Simulation(cfg, self.off, profile, 0, arrivals=[]).roster()
        self.fixed = tuple(s for s in base if s.window not in pool)
        self.taken = {s.clerk for s in base}
        self.clerk: dict[int, str] = {s.window: s.clerk for s in base if s.window in pool}
        for n in pool:
            if n not in self.clerk and (standby := self._standby(n)) is not None:
                self.clerk[n] = standby
        self.groups: dict[str, list[int]] = {GENERAL: [n for n in pool if n in self.clerk]}
        self.pool = self.groups[GENERAL]
        self.options = self._options()
        self.assigned: list[Assignment] = []
        self.evaluations = 0  # plans tried on a set of days
        self.simulated = 0  # simulated days
        self.kept_cuts = self.refused_cuts = 0
        self.feasible = True
        self.full_hit = 1.0  # every window all day: share of search days meeting the target
        self.base: dict[int, float] = {}  # seed -> every window all day's P90 that day
        self.held: dict[int, DayResult] = {}  # seed -> the plan so far on that day
        self.order: list[int] = []  # search days hardest first, then validation days
        self.validated: tuple[Outcome, Outcome] | None = None  # (plan, today's roster)
        self.everything: Outcome | None = None  # every window all day on the check days
        self._citizens: dict[int, list[Arrival]] = {}

    # ---- what the hall file allows ---------------------------------------------------

    def _standby(self, window: int) -> str | None:
        """A clerk who may staff ``window`` and is nowhere else in the plan (taken)."""
        found = next((s.id for s in self.cfg.staff
                      if s.may_staff(window) and s.id not in self.taken), None)
        if found is not None:
            self.taken.add(found)
        return found

    def _options(self) -> list[Assignment]:
        """Every assignment of a window to a domain queue the hall file allows."""
        out: list[Assignment] = []
        rostered = {s.window: s.clerk for s in self.fixed}
        general = {q for n in self.pool for q in self.cfg.window_queues(n)[:1]}
        for w in self.cfg.windows:
            own = self.cfg.window_queues(w.number)
            if w.kind is WindowKind.TIDE and w.number in self.clerk:
                out += [Assignment(w.number, q, (q, *(x for x in own if x != q)),
                                   self.clerk[w.number], "first")
                        for q in own[1:] if q not in general]
            elif w.lendable and w.number in rostered:
                out += [Assignment(w.number, q.letter, (*own, q.letter), rostered[w.number],
                                   "lend")
                        for q in self.cfg.queues if q.letter not in own]
            elif (w.kind in (WindowKind.DOMAIN, WindowKind.SPECIALTY)
                  and w.number not in rostered and own
                  and (standby := self._standby(w.number)) is not None):
                out.append(Assignment(w.number, own[0], own, standby, "spare"))
        return out

    # ---- simulated days --------------------------------------------------------------

    def expected_arrivals(self, start: float) -> float:
        """Tickets expected in the half hour from ``start`` (rates read every 5 minutes)."""
        steps = 6
        return sum(self.profile.rate(m, start + HALF * (i + 0.5) / steps) * HALF / steps
                   for m in self.profile.hourly for i in range(steps))

    def full(self) -> Counts:
        """Every window the plan may staff, in every half hour."""
        return {g: [len(ws)] * len(self.slots) for g, ws in self.groups.items()}

    def _runs(self, n: int, staffed: Sequence[bool], queues: tuple[str, ...] | None
              ) -> list[Shift]:
        """A window's runs of staffed half hours as shifts (a run ending inside an opening
        period hands over; at its end the window serves out)."""
        ends = {hours_of(b) for _, b in self.cfg.hours.periods}
        shifts: list[Shift] = []
        run: tuple[float, float] | None = None
        for on, start in zip(staffed, self.slots, strict=True):
            if not on:
                continue
            if run is not None and math.isclose(run[1], start):
                run = (run[0], start + HALF)
                continue
            if run is not None:
                shifts.append(Shift(n, self.clerk[n], *run, serve_out=run[1] in ends,
                                    queues=queues))
            run = (start, start + HALF)
        if run is not None:
            shifts.append(Shift(n, self.clerk[n], *run, serve_out=run[1] in ends,
                                queues=queues))
        return shifts

    def roster(self, counts: Mapping[str, Sequence[int]]) -> tuple[Shift, ...]:
        """Shifts: the fixed windows (a lent one serving its assignment's queues) and, per
        planned window, its runs of staffed half hours."""
        how = {a.window: a for a in self.assigned}
        shifts = [replace(s, queues=how[s.window].queues) if s.window in how else s
                  for s in self.fixed]
        for group, windows in self.groups.items():
            for i, n in enumerate(windows):
                queues = how[n].queues if n in how else None
                shifts += self._runs(n, [c > i for c in counts[group]], queues)
        return tuple(shifts)

    def citizens(self, seed: int) -> list[Arrival]:
        """The seed's citizens, drawn once: every plan meets the same people that day."""
        if seed not in self._citizens:
            self._citizens[seed] = generate_arrivals(self.cfg, self.profile,
                                                     random.Random(seed))
        return self._citizens[seed]

    def _day(self, counts: Mapping[str, Sequence[int]] | None, seed: int) -> DayResult:
        self.simulated += 1
        if counts is None:  # today's roster and the tide controller
            return Simulation(self.cfg, self.settings, self.profile, seed,
                              arrivals=self.citizens(seed)).run()
        profile = replace(self.profile, roster=self.roster(counts))
        return Simulation(self.cfg, self.off, profile, seed,
                          arrivals=self.citizens(seed)).run()

    def days(self, counts: Mapping[str, Sequence[int]] | None, seeds: Sequence[int]
             ) -> list[DayResult]:
        """Simulated days under a plan (policy off), or under today's roster and controller."""
        self.evaluations += 1
        return [self._day(counts, s) for s in seeds]

    def outcome(self, days: list[DayResult], margin: float = 1.0) -> Outcome:
        p90s = [day_p90(d) for d in days]
        means = [sum(r.wait for r in d.tickets if r.counted) / 60
                 / max(1, sum(1 for r in d.tickets if r.counted)) for d in days]
        hours = [sum(d.window_seconds.values()) / 3600 for d in days]
        n = max(1, len(days))
        return Outcome(sum(p90s) / n, sum(means) / n, sum(hours) / n,
                       sum(p <= self.target * margin for p in p90s) / n)

    def slot_at(self, hour: float) -> int | None:
        """The index of the half hour holding ``hour`` (None: outside the opening hours)."""
        k = bisect.bisect_right(self.slots, hour) - 1
        return k if k >= 0 and hour < self.slots[k] + HALF else None

    def slot_p90s(self, days: Sequence[DayResult]) -> list[float | None]:
        """Per half hour, the P90 wait (min) of the tickets issued in it, over these days
        (None: no ticket)."""
        waits: list[list[float]] = [[] for _ in self.slots]
        for d in days:
            for r in d.tickets:
                k = self.slot_at(r.arrived / 3600)
                if r.counted and r.leg == 1 and k is not None:
                    waits[k].append(r.wait / 60)
        return [round(percentile(w, 0.9), 1) if w else None for w in waits]

    def reach_of(self, days: list[DayResult]) -> Reach:
        p90s = [day_p90(d) for d in days]
        hit = sum(p <= self.target for p in p90s) / max(1, len(p90s))
        return Reach(hit >= HIT_TARGET, hit, percentile(p90s, HIT_TARGET),
                     tuple(self.over_target(days)))

    def over_target(self, days: list[DayResult]) -> list[tuple[str, float]]:
        """Queues by their share of the counted tickets that waited over the target."""
        over: dict[str, int] = {}
        for d in days:
            for r in d.tickets:
                if r.counted and r.wait > self.target * 60:
                    over[r.queue] = over.get(r.queue, 0) + 1
        total = max(1, sum(over.values()))
        return sorted(((q, n / total) for q, n in over.items()), key=lambda x: -x[1])

    # ---- search ----------------------------------------------------------------------

    def _score(self) -> tuple[tuple[float, float, float], list[DayResult]]:
        """Every window all day with the assignments so far, on the search days: (share of
        days under the target with the margin, without it, minus the mean P90)."""
        days = self.days(self.full(), self.search_seeds)
        return ((self.outcome(days, MARGIN).hit_rate, self.outcome(days).hit_rate,
                 -self.outcome(days).p90_min), days)

    def reach(self) -> list[DayResult]:
        """Add assignments, the most helpful first, while every window all day misses the
        target with the margin on the search days; returns those days."""
        score, days = self._score()
        while score[0] < HIT_TARGET:
            used = {a.window for a in self.assigned}
            hot = [q for q, _ in self.over_target(days)[:HOT_QUEUES]]
            best: tuple[tuple[float, float, float], list[DayResult], Assignment] | None = None
            for option in self.options:
                if option.window in used or option.queue not in hot:
                    continue
                self._assign(option)
                trial, trial_days = self._score()
                self._unassign(option)
                if best is None or trial > best[0]:
                    best = (trial, trial_days, option)
            if best is None or best[0] <= score:
                break
            score, days = best[0], best[1]
            self._assign(best[2])
        return days

    def _assign(self, option: Assignment) -> None:
        self.assigned.append(option)
        if option.how == "spare":
            self.clerk[option.window] = option.clerk
            self.groups[f"domain:{option.queue}:{option.window}"] = [option.window]

    def _unassign(self, option: Assignment) -> None:
        self.assigned.remove(option)
        self.groups.pop(f"domain:{option.queue}:{option.window}", None)

    def loads(self, days: Sequence[DayResult]) -> dict[str, list[float]]:
        """Per group and half hour, the erlangs its windows served on these days: the
        tickets called in the half hour, each for its matter's mean service time."""
        group_of = {n: g for g, ws in self.groups.items() for n in ws}
        minutes = {g: [0.0] * len(self.slots) for g in self.groups}
        for d in days:
            for r in d.tickets:
                if r.outcome != "served" or r.window not in group_of:
                    continue
                k = self.slot_at((r.arrived + r.wait) / 3600)
                if k is not None:
                    mean = service_params(self.cfg, self.profile, r.matter)[0]
                    minutes[group_of[r.window]][k] += mean
        n = max(1, len(days))
        return {g: [m / (HALF * 60) / n for m in ms] for g, ms in minutes.items()}

    def cuts(self, days: Sequence[DayResult]) -> list[tuple[str, int]]:
        """Every staffed window-half-hour the plan may take away, least expected harm first:
        by the load per window left in that half hour (on every window all day's days), so
        quiet half hours lose windows first and a busy one keeps them."""
        load = self.loads(days)
        cells: list[tuple[float, int, str]] = []
        for g, ws in self.groups.items():
            floor = 1 if g == GENERAL else 0
            for k in range(len(self.slots)):
                cells += [(load[g][k] / max(left, HALF), k, g)
                          for left in range(len(ws) - 1, floor - 1, -1)]
        cells.sort()
        return [(g, k) for _, k, g in cells]

    def allowed(self, base: float) -> float:
        """The highest P90 a cut may leave on a day where every window all day had ``base``."""
        return max(self.target * LOW, base + SLACK_MINUTES)

    def holds(self, counts: Mapping[str, Sequence[int]]) -> bool:
        """Whether a plan holds on the search days, then on the validation days, each day
        paired with every window all day on the same simulated day (the same citizens):
        its P90 stays under ``allowed`` (every window all day's plus ``SLACK_MINUTES``, or
        ``LOW`` × the target), and no day that met the target misses it. Days go hardest first;
        the trial stops at its first day that does not hold."""
        self.evaluations += 1
        kept: dict[int, DayResult] = {}
        for seed in self.order:
            day = self._day(counts, seed)
            p90, base = day_p90(day), self.base[seed]
            if (p90 > self.allowed(base)
                    or base <= self.target < p90):
                return False
            kept[seed] = day
        self.held = kept
        return True

    def search(self) -> Counts:
        """The fewest windows per half hour that hold (``holds``), cut one window-half-hour
        at a time in order of least expected harm, each cut kept only if the plan with it
        still holds; a half hour whose cut does not hold keeps its windows. Cuts are tried
        in batches (doubled while they hold, halved when not), and the same days are reused
        (each seed's citizens drawn once)."""
        days = self.reach()
        counts = self.full()
        self.full_hit = self.outcome(days).hit_rate
        self.feasible = self.full_hit >= HIT_TARGET
        checked = self.days(counts, self.validate_seeds)
        self.base = {d.seed: day_p90(d) for d in (*days, *checked)}
        self.held = {d.seed: d for d in (*days, *checked)}
        self.order = [*sorted(self.search_seeds, key=lambda s: -self.base[s]),
                      *sorted(self.validate_seeds, key=lambda s: -self.base[s])]
        cells = self.cuts(days)
        batch = FIRST_BATCH
        while cells:
            take = cells[:batch]
            trial = {g: list(c) for g, c in counts.items()}
            for g, k in take:
                trial[g][k] -= 1
            if self.holds(trial):
                counts, cells, batch = trial, cells[len(take):], 2 * len(take)
                self.kept_cuts += len(take)
            elif len(take) > 1:
                batch = len(take) // 2
            else:  # this half hour keeps its windows from here on
                cells, batch = [c for c in cells if c != take[0]], 1
                self.refused_cuts += 1
        return counts

    def plan(self) -> Plan:
        counts = self.search()
        full = self.full()
        # On the validation days: the plan found (its cuts each held there); today's roster
        # when it misses the target on more than 10 % of them and today's roster does better.
        mine = self.outcome([self.held[s] for s in self.validate_seeds])
        theirs = self.outcome(self.days(None, self.validate_seeds))
        self.validated = (mine, theirs)
        fallback = mine.hit_rate < HIT_TARGET and (
            mine.hit_rate < theirs.hit_rate
            or (mine.hit_rate == theirs.hit_rate and mine.p90_min > theirs.p90_min))
        today_days = self.days(None, self.check_seeds)
        today = self.outcome(today_days)
        planned_days = None if fallback else self.days(counts, self.check_seeds)
        full_days = (planned_days if counts == full and planned_days is not None
                     else self.days(full, self.check_seeds))
        reach = self.reach_of(full_days)
        self.everything = self.outcome(full_days)
        waits = {"today": self.slot_p90s(today_days),
                 "plan": self.slot_p90s(planned_days if planned_days is not None
                                        else today_days)}
        if fallback:
            tide = {w.number for w in self.cfg.tide_windows}
            self.assigned = []
            self.groups = {GENERAL: self.pool}
            counts = {GENERAL: [sum(1 for n in self.pool if n not in tide)] * len(self.slots)}
            planned = today
        else:
            assert planned_days is not None
            planned = self.outcome(planned_days)
        slots = tuple(replace(self._slot(k, start, counts), p90_min=waits["plan"][k],
                              today_p90_min=waits["today"][k])
                      for k, start in enumerate(self.slots))
        draft = Plan(self.cfg.id, self.target, slots,
                     tuple(sorted({s.window for s in self.fixed})), planned, today,
                     self.feasible, fallback, tuple(self.assigned), reach)
        return replace(draft, notes=tuple(plan_notes(self.cfg, draft)))

    def _slot(self, k: int, start: float, counts: Mapping[str, Sequence[int]]) -> PlanSlot:
        windows = [n for g, ws in self.groups.items() for n in ws[:counts[g][k]]]
        kinds: dict[str, int] = {}
        for n in windows:
            w = self.cfg.window(n)
            kind = (w.kind.value if w is not None and w.kind in (WindowKind.NO_DIFFERENCE,
                                                                  WindowKind.TIDE)
                    else f"domain:{self.cfg.window_queues(n)[0]}")
            kinds[kind] = kinds.get(kind, 0) + 1
        return PlanSlot(start, tuple(windows), tuple(self.clerk[n] for n in windows),
                        self.expected_arrivals(start), tuple(kinds.items()))


def _queue_names(cfg: HallConfig, letter: str) -> tuple[str, str]:
    q = cfg.queue(letter)
    return (f"{q.name_zh}（{letter}）", f"{q.name_en} ({letter})") if q else (letter, letter)


def _window_names(cfg: HallConfig, number: int) -> tuple[str, str]:
    w = cfg.window(number)
    return (f"{number}号窗口（{w.name_zh}）", f"window {number} ({w.name_en})") if w else (
        f"{number}号窗口", f"window {number}")


def plan_notes(cfg: HallConfig, plan: Plan) -> list[tuple[str, str]]:
    """What the plan changes besides the pool, and whether the target is reachable with
    the hall's windows (and by how much not), in Chinese and English."""
    out: list[tuple[str, str]] = []
    for a in plan.assignments:
        (wz, we), (qz, qe) = _window_names(cfg, a.window), _queue_names(cfg, a.queue)
        if a.how == "first":
            out.append((f"{wz}全天优先办理{qz}", f"{we} serves {qe} first all day"))
        elif a.how == "lend":
            out.append((f"{wz}全天兼办{qz}（排在本窗口业务之后）",
                        f"{we} also serves {qe} all day, after its own queues"))
        else:
            out.append((f"{wz}由备岗人员{a.clerk}按上表时段开放，办理{qz}",
                        f"{we} opens with standby clerk {a.clerk} in the half hours above, "
                        f"for {qe}"))
    if plan.fallback:
        out.append(("按建议排班在验证日上不如现排班：维持现排班（上表综合窗口全天，潮汐窗口由控制器开关）",
                    "the plan cannot beat today's roster on the validation days: keep today's "
                    "roster (general windows above all day, the tide windows by the "
                    "controller)"))
    r = plan.reach
    if r is not None and not r.reachable:
        over = [(*_queue_names(cfg, q), share) for q, share in r.over_queues[:3]]
        short = r.p90_tenth_min - plan.target_minutes
        zh_q = "、".join(f"{z} {s:.0%}" for z, _, s in over)
        en_q = ", ".join(f"{e} {s:.0%}" for _, e, s in over)
        out.append((
            f"以本厅现有窗口达不到目标：所有可排窗口全天开放，P90等候≤{plan.target_minutes:g}分钟"
            f"的日子只占{r.hit_rate:.0%}（需≥90%）；最差一成日子的P90为{r.p90_tenth_min:.1f}分钟，"
            f"超出{short:.1f}分钟；超时的号主要在{zh_q}，需要再有窗口办理这些业务",
            f"the target is not reachable with this hall's windows: every window the plan "
            f"may staff, open all day, keeps the P90 wait ≤ {plan.target_minutes:g} min on "
            f"{r.hit_rate:.0%} of days (90 % needed); on the worst tenth of days the P90 is "
            f"{r.p90_tenth_min:.1f} min, {short:.1f} min over; the tickets over the target "
            f"are mostly in {en_q}: another window serving them is needed"))
    return out


def plan_table(body: Mapping[str, Any]) -> str:
    """The plan as text, from ``Plan.to_dict`` (the body the dashboard shows)."""
    lines = [f"hall {body['hall']}: staffing plan for a P90 wait ≤ "
             f"{body['target_minutes']:g} min",
             "domain / specialty windows as rostered: "
             f"{', '.join(map(str, body['fixed_windows']))}",
             "", "time    tickets  P90 plan/today  windows by kind              windows"
                 "                clerks"]
    for s in body["slots"]:
        kinds = " ".join(f"{k}×{v}" for k, v in s.get("kinds", {}).items())
        waits = "/".join("–" if s.get(f) is None else f"{s[f]:.1f}"
                         for f in ("p90_min", "today_p90_min"))
        lines.append(f"{s['start']}  {s['expected_tickets']:>7.1f}  {waits:>14}  {kinds:<28} "
                     f"{','.join(map(str, s['windows'])):<22} {','.join(s['clerks'])}")
    p, t = body["planned"], body["today"]
    lines += ["",
              f"under the plan:   P90 {p['p90_min']:.1f} min, mean {p['mean_min']:.1f} min, "
              f"{p['window_hours']:.1f} window-hours, target met on {p['hit_rate']:.0%} of days",
              f"today's roster:   P90 {t['p90_min']:.1f} min, mean {t['mean_min']:.1f} min, "
              f"{t['window_hours']:.1f} window-hours, target met on {t['hit_rate']:.0%} of days"]
    lines += [f"note: {n['en']}" for n in body.get("notes", [])]
    return "\n".join(lines)
