"""The hall calendar: weekly hours, lunch closure, 2026 holidays and 调休, closures, extras."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hall.calendar import HallCalendar, national_calendar, parse_calendar

TZ = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).timestamp()


def cal(**calendar: object) -> HallCalendar:
    c, problems = parse_calendar(
        "Asia/Shanghai",
        {"weekdays": [1, 2, 3, 4, 5], "periods": ["09:00-12:00", "13:30-17:30"]}, calendar)
    assert problems == []
    return c


def test_weekly_hours_and_lunch_closure() -> None:
    c = cal()
    assert c.is_open(at(2026, 11, 18, 9, 0))  # Wednesday
    assert not c.is_open(at(2026, 11, 18, 12, 0))  # lunch
    assert c.is_open(at(2026, 11, 18, 17, 29))
    assert not c.is_open(at(2026, 11, 18, 17, 30))
    assert not c.is_open(at(2026, 11, 21, 10, 0))  # Saturday
    assert c.next_opening(at(2026, 11, 18, 12, 5)) == datetime(2026, 11, 18, 13, 30, tzinfo=TZ)
    # Friday evening → Monday morning
    assert c.next_opening(at(2026, 11, 20, 18, 0)) == datetime(2026, 11, 23, 9, 0, tzinfo=TZ)


def test_2026_holidays_from_the_state_council_notice() -> None:
    national = national_calendar()
    assert 2026 in national.years
    holidays = {d for d in national.holidays if d.year == 2026}
    assert len(holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert national.holiday(date(2026, 2, 17)) == ("春节", "Spring Festival")
    assert sorted(d.isoformat() for d in national.workdays) == [
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
    for day in national.workdays:  # every make-up working day is a weekend day
        assert day.isoweekday() in (6, 7)


def test_holidays_close_and_makeup_days_open() -> None:
    c = cal()
    assert not c.is_open(at(2026, 10, 5, 10, 0))  # 国庆, a Monday
    assert c.periods_on(date(2026, 10, 10))  # 调休: Saturday working day
    assert c.is_open(at(2026, 10, 10, 10, 0))
    # after the Spring Festival break (15–23 Feb) the hall opens on Tuesday 24 Feb
    assert c.next_opening(at(2026, 2, 13, 18, 0)) == datetime(2026, 2, 14, 9, 0, tzinfo=TZ)
    assert c.next_opening(at(2026, 2, 14, 18, 0)) == datetime(2026, 2, 24, 9, 0, tzinfo=TZ)


def test_year_without_file_keeps_fixed_statutory_days() -> None:
    c = cal()
    assert c.holiday(date(2027, 1, 1)) is not None
    assert not c.is_open(at(2027, 10, 1, 10, 0))
    assert 2027 in c.missing_years(at(2026, 11, 29), ahead_days=60)


def test_a_year_without_file_is_provisional_weekly_hours_alone() -> None:
    """What a hall gets for a year whose State Council schedule is not in hall/holidays:
    the weekly hours, the fixed-date holidays only, no 调休; each such day is provisional."""
    c = cal()
    assert not c.provisional(date(2026, 12, 31)) and c.provisional(date(2027, 1, 4))
    assert c.periods_on(date(2027, 1, 4)) == c.weekly[1]  # a Monday: open as usual
    assert c.periods_on(date(2027, 1, 2)) == ()  # a Saturday: closed (no 调休 known)
    assert c.periods_on(date(2027, 1, 1)) == ()  # New Year's Day: fixed, closed
    assert c.periods_on(date(2027, 2, 8)) == c.weekly[1]  # Spring Festival: not known
    assert c.missing_years(at(2026, 12, 20), ahead_days=14) == [2027]
    assert c.missing_years(at(2026, 12, 1), ahead_days=14) == []
    assert c.missing_years(at(2098, 12, 20), ahead_days=30) == [2098, 2099]
    none = cal(holidays="none")  # a hall that keeps no national holidays warns of none
    assert not none.provisional(date(2027, 1, 4))
    assert none.missing_years(at(2026, 12, 20), ahead_days=14) == []


def test_closures_and_extra_openings() -> None:
    c = cal(closures=[{"date": date(2026, 12, 3), "reason": "系统升级"}],
            extra=[{"weekdays": [6], "periods": ["09:00-12:00"], "appointments_only": True},
                   {"weekdays": [3], "periods": ["17:30-19:00"]},
                   {"dates": [date(2026, 10, 3)], "periods": ["09:00-11:00"]}])
    assert not c.is_open(at(2026, 12, 3, 10, 0))
    saturday = at(2026, 11, 21, 10, 0)
    assert not c.is_open(saturday)  # walk-ins: no
    assert c.is_open(saturday, walk_in=False)  # appointments: yes
    assert c.is_open(at(2026, 11, 18, 18, 30))  # extended hours on Wednesday
    assert not c.is_open(at(2026, 11, 19, 18, 30))
    assert c.is_open(at(2026, 10, 3, 10, 0))  # a dated opening on a holiday
    # weekday extras do not apply on national holidays: Saturday 3 Oct has only its dated one
    assert [p.label() for p in c.periods_on(date(2026, 10, 3))] == ["09:00-11:00"]


def test_working_day_deadlines_count_the_calendar() -> None:
    c = cal()
    # 5 working days from Wed 30 Sep 2026: 国庆 1–7 Oct, Sat 10 Oct is a working day
    assert c.add_working_days(at(2026, 9, 30, 10, 0), 5) == date(2026, 10, 13)
    assert c.working_deadline(at(2026, 9, 30, 10, 0), 1) == at(2026, 10, 9)
    assert c.add_working_days(at(2026, 11, 20, 10, 0), 1) == date(2026, 11, 23)


@pytest.mark.parametrize("hours, calendar, expected", [
    ({"periods": ["9-12"]}, {}, "hall.hours.periods[0]"),
    ({"periods": ["09:00-12:00", "11:00-13:00"]}, {}, "overlap"),
    ({"weekdays": [0]}, {}, "hall.hours.weekdays"),
    ({"by_weekday": {"8": ["09:00-10:00"]}}, {}, "hall.hours.by_weekday.8"),
    ({}, {"holidays": "some"}, "hall.calendar.holidays"),
    ({}, {"closures": [{"date": "2026-12-01"}]}, "hall.calendar.closures[0]"),
    ({}, {"extra": [{"weekdays": [6]}]}, "hall.calendar.extra[0]"),
    ({}, {"extras": []}, "hall.calendar.extras: unknown field"),
])
def test_mistakes_are_named(hours: dict[str, object], calendar: dict[str, object],
                            expected: str) -> None:
    _, problems = parse_calendar("Asia/Shanghai", hours, calendar)
    assert any(expected in p for p in problems), problems


def test_by_weekday_overrides_one_day() -> None:
    c, problems = parse_calendar("Asia/Shanghai", {"by_weekday": {"3": ["08:30-19:00"]}}, {})
    assert problems == []
    assert c.periods_on(date(2026, 11, 18))[0].start == time(8, 30)
    assert len(c.periods_on(date(2026, 11, 19))) == 2
