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
2. *Cut.* From there, windows are taken away, one per half hour per round, least-loaded
   half hours first, as long as the search days still meet the target with the margin
   (on as many of them as step 1 reached). Days are tried hardest first, and a trial
   stops at its first day too many over the target.
3. *Validate.* On validation days (``validate_seeds``: neither searched on nor checked)
   the cut plan must hold; if it does not, a window is added back in every half hour
   (then two, …) until it does, and failing that every window all day is tried. Where
   neither beats today's roster, the plan *is* today's roster (``fallback``): when the
   plan misses the target on more than 10 % of the validation days and today's roster (the
   tide controller in auto mode, which also opens and lends windows) meets it on more of
   them, or on as many with a shorter P90.
4. *Check.* The plan's hit rate is the share of other days drawn from the same forecast
   (``check_seeds``) whose P90 meets the target; beside it, today's roster on the same days.

``Plan.to_dict`` is what ``hall plan --json`` prints, ``--save`` keeps for the dashboard
and ``plan_table`` prints: the CLI and the dashboard's panel show the same body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from hall.config import HallConfig, WindowKind
from hall.text import hours_of
from tide.profiles import DayProfile, Shift
from tide.report import percentile
from tide.settings import Mode, PolicyName, TideSettings
from tide.sim import DayResult, Simulation

HALF = 0.5
HIT_TARGET = 0.9  # the plan meets its target on at least this share of days
MARGIN = 0.8  # while searching, each day must keep its P90 under this share of the target
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
                           "kinds": dict(s.kinds)}
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
    tide = [w.number for w in cfg.windows if w.kind is WindowKind.TIDE]
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
        self.evaluations = 0
        self.required = HIT_TARGET
        self.feasible = True
        self.full_hit = 1.0  # every window all day: share of search days meeting the target
        self.order = list(self.search_seeds)  # search days, hardest first
        self.validated: tuple[Outcome, Outcome] | None = None  # (plan, today's roster)

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

    def _day(self, counts: Mapping[str, Sequence[int]] | None, seed: int) -> DayResult:
        if counts is None:  # today's roster and the tide controller
            return Simulation(self.cfg, self.settings, self.profile, seed).run()
        profile = replace(self.profile, roster=self.roster(counts))
        return Simulation(self.cfg, self.off, profile, seed).run()

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

    def meets(self, counts: Mapping[str, Sequence[int]]) -> bool:
        """Whether a plan keeps the search days under the target with a margin (the search
        days are few; without one, the plan fits them and misses on other days). Days go
        hardest first; the trial stops at the first day too many over the target."""
        self.evaluations += 1
        allowed = math.floor((1 - self.required) * len(self.order) + 1e-9)
        misses = 0
        for seed in self.order:
            if day_p90(self._day(counts, seed)) > self.target * MARGIN:
                misses += 1
                if misses > allowed:
                    return False
        return True

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

    def search(self) -> Counts:
        """Fewest windows per half hour keeping the hit rate on the search days at 0.9 with
        the margin, or at what every window all day reaches when even that falls short."""
        days = self.reach()
        counts = self.full()
        self.full_hit = self.outcome(days).hit_rate
        full = self.outcome(days, MARGIN).hit_rate
        self.feasible = self.full_hit >= HIT_TARGET
        self.required = min(HIT_TARGET, full) - 1e-9
        hardness = {d.seed: day_p90(d) for d in days}
        self.order = sorted(self.search_seeds, key=lambda s: -hardness.get(s, 0.0))
        order = sorted(range(len(self.slots)), key=lambda k: self.expected_arrivals(
            self.slots[k]))
        floor = {g: 1 if g == GENERAL else 0 for g in self.groups}
        # Rounds: each takes at most one window from each half hour (least loaded first),
        # so the cuts spread over the day instead of draining the first half hours tried.
        changed = True
        while changed:
            changed = False
            for k in order:
                for g in self.groups:
                    if counts[g][k] <= floor[g]:
                        continue
                    trial = {h: list(c) for h, c in counts.items()}
                    trial[g][k] -= 1
                    if self.meets(trial):
                        counts, changed = trial, True
        return counts

    def plan(self) -> Plan:
        counts = self.search()
        # On the validation days: the plan found, or with windows added back in every half
        # hour, or every window all day when the cut plan does not hold there; today's
        # roster when none beats it.
        full = self.full()
        mine = self.outcome(self.days(counts, self.validate_seeds))
        extra = 1
        while mine.hit_rate < HIT_TARGET and counts != full:
            # add back a window in every half hour (up to all of them) until it holds
            more = {g: [min(len(self.groups[g]), c + extra) for c in cs]
                    for g, cs in counts.items()}
            if more == full:
                break
            held = self.outcome(self.days(more, self.validate_seeds))
            if held.hit_rate >= HIT_TARGET:
                counts, mine = more, held
            extra += 1
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
        planned_days = None if fallback else self.days(counts, self.check_seeds)
        full_days = (planned_days if counts == full and planned_days is not None
                     else self.days(full, self.check_seeds))
        reach = self.reach_of(full_days)
        if fallback:
            tide = {w.number for w in self.cfg.windows if w.kind is WindowKind.TIDE}
            self.assigned = []
            self.groups = {GENERAL: self.pool}
            counts = {GENERAL: [sum(1 for n in self.pool if n not in tide)] * len(self.slots)}
            planned = today
        else:
            assert planned_days is not None
            planned = self.outcome(planned_days)
        slots = tuple(self._slot(k, start, counts) for k, start in enumerate(self.slots))
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
             "", "time    tickets  windows by kind              windows                clerks"]
    for s in body["slots"]:
        kinds = " ".join(f"{k}×{v}" for k, v in s.get("kinds", {}).items())
        lines.append(f"{s['start']}  {s['expected_tickets']:>7.1f}  {kinds:<28} "
                     f"{','.join(map(str, s['windows'])):<22} {','.join(s['clerks'])}")
    p, t = body["planned"], body["today"]
    lines += ["",
              f"under the plan:   P90 {p['p90_min']:.1f} min, mean {p['mean_min']:.1f} min, "
              f"{p['window_hours']:.1f} window-hours, target met on {p['hit_rate']:.0%} of days",
              f"today's roster:   P90 {t['p90_min']:.1f} min, mean {t['mean_min']:.1f} min, "
              f"{t['window_hours']:.1f} window-hours, target met on {t['hit_rate']:.0%} of days"]
    lines += [f"note: {n['en']}" for n in body.get("notes", [])]
    return "\n".join(lines)
