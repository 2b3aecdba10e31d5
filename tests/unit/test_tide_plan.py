"""Profiles from a hall's history and tomorrow's staffing plan, on known days."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from hall.calendar import NationalCalendar
from hall.config import HallConfig, parse_hall
from tide.history import DayCounts, after_holiday, counts_of, hourly_shape, profile_for
from tide.plan import Planner, half_hours, plan_table
from tide.profiles import DayProfile, Shift
from tide.settings import Mode, PolicyName, TideSettings

# 2026: National Day holiday 10-01..10-07, back to work on Thursday 10-08.
CALENDAR = NationalCalendar(
    holidays={date(2026, 10, d): ("国庆节", "National Day") for d in range(1, 8)},
    years=frozenset({2026}))


def small_hall(windows: int = 4, periods: tuple[str, ...] = ("09:00-12:00", "13:30-17:30")
               ) -> HallConfig:
    return parse_hall({
        "hall": {"id": "small", "name_zh": "小厅", "name_en": "Small", "level": "village",
                 "timezone": "Asia/Shanghai", "hours": {"periods": list(periods)}},
        "rules": {"wait_target_minutes": 15},
        "queues": [{"letter": "A", "name_zh": "综合", "name_en": "General"}],
        "matters": [{"code": "X", "name_zh": "事项", "name_en": "Matter", "queue": "A",
                     "expected_minutes": 10}],
        "windows": [{"number": n, "name_zh": f"{n}号", "name_en": f"No. {n}",
                     "kind": "no_difference", "queues": ["A"]} for n in range(1, windows + 1)],
        "staff": [{"id": f"S{n}", "name": f"员工{n}", "staff_number": f"N{n}"}
                  for n in range(1, windows + 1)],
    })


def at(day: date, hh: int, mm: int, cfg: HallConfig) -> float:
    return datetime.combine(day, time(hh, mm), tzinfo=cfg.tz).timestamp()


def test_a_days_tickets_are_counted_per_matter_and_quarter_hour() -> None:
    cfg = small_hall()
    day = date(2026, 11, 18)
    counts = counts_of(cfg, day, [(at(day, 9, 0, cfg), "X"), (at(day, 9, 14, cfg), "X"),
                                  (at(day, 9, 15, cfg), "X"), (at(day, 14, 59, cfg), "nope")])
    assert counts.counts["X"][36] == 2 and counts.counts["X"][37] == 1 and counts.total == 3


def test_the_first_working_day_after_a_holiday_is_flagged() -> None:
    assert after_holiday(date(2026, 10, 8), CALENDAR)
    assert not after_holiday(date(2026, 10, 9), CALENDAR)
    assert not after_holiday(date(2026, 10, 12), CALENDAR)  # a Monday after a weekend


def test_the_forecast_averages_the_same_weekday_and_keeps_holidays_apart() -> None:
    cfg = small_hall()

    def day_with(d: date, per_slot: int) -> DayCounts:
        counts = [0] * 96
        counts[36] = per_slot  # 09:00-09:15
        return DayCounts(d, {"X": tuple(counts)})

    wednesdays = [day_with(date(2026, 11, d), n) for d, n in ((4, 2), (11, 4), (18, 6))]
    other = [day_with(date(2026, 11, 16), 40), day_with(date(2026, 10, 8), 30)]
    profile = profile_for(cfg, [*wednesdays, *other], date(2026, 11, 25), CALENDAR)
    assert profile is not None and profile.slot_minutes == 15
    assert profile.hourly["X"][36] == pytest.approx(4 * 4)  # 4 a quarter hour = 16 an hour
    assert sum(hourly_shape(profile)) == pytest.approx(4)
    # The day after a holiday is forecast from the after-holiday days, not ordinary ones.
    after = profile_for(cfg, [*wednesdays, *other], date(2027, 10, 8), CALENDAR)
    assert after is not None
    assert profile_for(cfg, [], date(2026, 11, 25), CALENDAR) is None


def test_the_plan_staffs_the_peak_and_not_the_quiet_hours_and_meets_its_target() -> None:
    cfg = small_hall(4, ("09:00-12:00",))
    # 12 an hour 09:00-10:00 (2 erlangs of 10-minute services), 3 an hour 10:00-12:00.
    rates = [0.0] * 24
    rates[9], rates[10], rates[11] = 12.0, 3.0, 3.0
    profile = DayProfile(hourly={"X": tuple(rates)}, no_show_prob=0.0, patience_minutes=None)
    planner = Planner(cfg, profile, TideSettings(), search_seeds=range(1, 41),
                      check_seeds=range(1001, 1041))
    plan = planner.plan()
    by_start = {s.start_hour: len(s.windows) for s in plan.slots}
    assert list(by_start) == half_hours(cfg) == [9.0, 9.5, 10.0, 10.5, 11.0, 11.5]
    assert min(by_start[9.0], by_start[9.5]) >= max(by_start[h] for h in (10.5, 11.0, 11.5))
    assert sum(by_start.values()) < 4 * len(by_start)
    assert plan.planned.window_hours < plan.today.window_hours
    # checked on 40 other days drawn from the same forecast
    assert plan.feasible and plan.planned.hit_rate >= 0.9
    text = plan_table(plan.to_dict())
    assert "09:00" in text and "target met on" in text


def two_queue_hall(periods: tuple[str, ...] = ("09:00-11:00",), **extra: object) -> HallConfig:
    """Window 1 (general, queue A), window 2 (domain B, lendable), window 3 (domain C)."""
    return parse_hall({
        "hall": {"id": "small", "name_zh": "小厅", "name_en": "Small", "level": "village",
                 "timezone": "Asia/Shanghai", "hours": {"periods": list(periods)}},
        "rules": {"wait_target_minutes": 15},
        "queues": [{"letter": q, "name_zh": q, "name_en": q} for q in "ABC"],
        "matters": [{"code": q, "name_zh": q, "name_en": q, "queue": q,
                     "expected_minutes": 10} for q in "ABC"],
        "windows": [{"number": 1, "name_zh": "1号", "name_en": "No. 1",
                     "kind": "no_difference", "queues": ["A"]},
                    {"number": 2, "name_zh": "2号", "name_en": "No. 2", "kind": "domain",
                     "queues": ["B"], "lendable": True},
                    {"number": 3, "name_zh": "3号", "name_en": "No. 3", "kind": "domain",
                     "queues": ["C"]}],
        "staff": [{"id": f"S{n}", "name": f"员工{n}", "staff_number": f"N{n}",
                   "windows": [n]} for n in (1, 2, 3)],
        **extra,
    })


def per_hour(**rates: dict[int, float]) -> dict[str, tuple[float, ...]]:
    return {q: tuple(r.get(h, 0.0) for h in range(24)) for q, r in rates.items()}


def test_a_lendable_domain_window_is_lent_to_the_queue_that_needs_it() -> None:
    # Window 1 alone would carry 1 erlang of queue A; window 2 (B, lendable) is quiet.
    # The pool cannot keep A's waits down; lending window 2 to A all day (after B) can.
    cfg = two_queue_hall(periods=("09:00-12:00",))
    profile = DayProfile(hourly=per_hour(A={9: 6.0, 10: 6.0, 11: 6.0}, B={9: 0.5},
                                         C={9: 0.5}),
                         no_show_prob=0.0, patience_minutes=None)
    planner = Planner(cfg, profile, TideSettings(mode=Mode.AUTO), search_seeds=range(1, 6),
                      check_seeds=range(1001, 1011))
    plan = planner.plan()
    assert [(a.window, a.queue, a.queues, a.how) for a in plan.assignments] == [
        (2, "A", ("B", "A"), "lend")]
    assert not plan.fallback
    planner.assigned = []  # the same days without the lend
    pool_only = planner.outcome(planner.days(planner.full(), planner.check_seeds))
    assert plan.planned.p90_min < 0.5 * pool_only.p90_min
    body = plan.to_dict()
    assert body["assignments"][0]["window"] == 2
    assert "window 2 (No. 2) also serves A (A) all day" in plan_table(body)


def test_a_plan_that_cannot_beat_todays_roster_is_todays_roster() -> None:
    # A is busy 09:00-10:00 and C 10:00-11:00, each on its one window; the controller
    # lends window 2 to A, then to C. A plan lends it to one queue all day, so even every
    # window all day does worse than today's roster: the plan is today's roster, and the
    # target is out of reach with this hall's windows.
    cfg = two_queue_hall()
    profile = DayProfile(hourly=per_hour(A={9: 12.0, 10: 2.0}, B={9: 0.5},
                                         C={9: 2.0, 10: 12.0}),
                         no_show_prob=0.0, patience_minutes=None)
    planner = Planner(cfg, profile, TideSettings(mode=Mode.AUTO, policy=PolicyName.THRESHOLD),
                      search_seeds=range(1, 4), check_seeds=range(1001, 1004))
    plan = planner.plan()
    assert planner.validated is not None
    mine, theirs = planner.validated
    assert mine.p90_min > theirs.p90_min  # on the validation days
    assert plan.fallback and not plan.feasible and not plan.assignments
    assert all(s.windows == (1,) for s in plan.slots)  # window 1 all day, 2 as rostered
    assert plan.planned == plan.today
    assert plan.reach is not None and not plan.reach.reachable
    assert plan.reach.p90_tenth_min > 15 and plan.reach.over_queues[0][0] in "AC"
    text = plan_table(plan.to_dict())
    assert "keep today's roster" in text and "not reachable with this hall's windows" in text


def test_a_spare_domain_window_opens_with_a_standby_clerk_only_when_needed() -> None:
    # Queue B has two windows (2 and 4); today's roster staffs only window 2, and clerk S4
    # stands by. B's first hour needs both; the quiet hours after it do not.
    raw_windows = [{"number": n, "name_zh": f"{n}号", "name_en": f"No. {n}", "kind": kind,
                    "queues": [q]} for n, kind, q in ((1, "no_difference", "A"),
                                                       (2, "domain", "B"), (4, "domain", "B"))]
    cfg = parse_hall({
        "hall": {"id": "small", "name_zh": "小厅", "name_en": "Small", "level": "village",
                 "timezone": "Asia/Shanghai", "hours": {"periods": ["09:00-12:00"]}},
        "rules": {"wait_target_minutes": 15},
        "queues": [{"letter": q, "name_zh": q, "name_en": q} for q in "AB"],
        "matters": [{"code": q, "name_zh": q, "name_en": q, "queue": q,
                     "expected_minutes": 10} for q in "AB"],
        "windows": raw_windows,
        "staff": [{"id": f"S{n}", "name": f"员工{n}", "staff_number": f"N{n}",
                   "windows": [n]} for n in (1, 2, 4)],
    })
    roster = (Shift(1, "S1", 9.0, 12.0), Shift(2, "S2", 9.0, 12.0))  # window 4 closed
    profile = DayProfile(hourly=per_hour(A={9: 1.0, 10: 1.0, 11: 1.0},
                                         B={9: 8.0, 10: 0.5, 11: 0.5}),
                         no_show_prob=0.0, patience_minutes=None, roster=roster)
    planner = Planner(cfg, profile, TideSettings(mode=Mode.OFF, policy=PolicyName.OFF),
                      search_seeds=range(1, 9), check_seeds=range(1001, 1011))
    plan = planner.plan()
    assert [(a.window, a.queue, a.clerk, a.how) for a in plan.assignments] == [
        (4, "B", "S4", "spare")]
    by_start = {s.start_hour: s for s in plan.slots}
    assert 4 in by_start[9.0].windows and dict(by_start[9.0].kinds)["domain:B"] == 1
    # the peak's queue is served by 10:30; the quiet last hour does not need window 4
    assert all(4 not in by_start[h].windows for h in (11.0, 11.5))
    assert plan.planned.hit_rate >= 0.9 and not plan.fallback


def test_the_hourly_pattern_compares_rates_per_open_hour() -> None:
    cfg = small_hall(1, ("09:00-12:00", "13:30-17:30"))
    slots = [0.0] * 96
    for i in (36, 37, 38, 39, 54, 55):  # 09:00-10:00 and 13:30-14:00: 8 an hour
        slots[i] = 8.0
    profile = DayProfile(hourly={"X": tuple(slots)}, slot_minutes=15)
    assert hourly_shape(profile)[9] == 8.0 and hourly_shape(profile)[13] == 4.0
    per_open = hourly_shape(profile, cfg)
    assert per_open[9] == per_open[13] == 8.0 and per_open[12] == 0.0


def test_quiet_half_hours_lose_windows_even_when_the_peak_cannot() -> None:
    # An hour of a morning peak near the capacity of 4 windows (2.7 erlangs of 10-minute
    # services), then a quiet hour and a quiet afternoon (0.3 erlangs). Every window all
    # day meets the target; so does the plan with the quiet half hours cut, which must
    # be found even though cuts in the peak do not hold (the peak keeps its windows).
    cfg = small_hall(4, ("09:00-11:00", "13:30-15:30"))
    rates = [0.0] * 24
    rates[9] = 16.0
    rates[10] = rates[13] = rates[14] = rates[15] = 2.0
    profile = DayProfile(hourly={"X": tuple(rates)}, no_show_prob=0.0, patience_minutes=None)
    planner = Planner(cfg, profile, TideSettings(), search_seeds=range(1, 7),
                      validate_seeds=range(501, 507), check_seeds=range(1001, 1021))
    plan = planner.plan()
    full = planner.everything
    assert full is not None and full.hit_rate >= 0.9
    by_start = {s.start_hour: len(s.windows) for s in plan.slots}
    quiet = [h for h in by_start if h >= 13.5]
    assert max(by_start[h] for h in quiet) <= 2 < by_start[9.5]
    # clearly fewer window-hours than every window all day (16), still on target on other days
    assert plan.planned.window_hours <= 0.75 * full.window_hours
    assert not plan.fallback and plan.planned.hit_rate >= 0.9
    # each half hour with tickets, after lunch too, shows its P90 beside today's roster
    assert all(s.p90_min is not None and s.today_p90_min is not None
               for s in plan.slots if s.arrivals > 0.5)
