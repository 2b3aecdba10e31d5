"""The hall's calendar: when it is open, for whom, and how working days are counted.

Pure: every question takes a date or a time (POSIX seconds) and answers from data.

* **Weekly hours**: periods per ISO weekday (the gap between two periods is the lunch
  closure), from ``[hall.hours]`` (``periods`` for every weekday in ``weekdays``, or per
  weekday in ``[hall.hours.by_weekday]``).
* **National holidays and make-up working days (调休)**: yearly data files
  (``hall/holidays/<year>.toml``, one per State Council notice). A holiday closes the hall; a
  make-up working day (a Saturday or Sunday the notice declares a working day) opens it
  with the hours of an ordinary working day. For a year without a file only the
  fixed-date statutory holidays are known (1 Jan, 1–2 May, 1–3 Oct); ``missing_years``
  lets ``hall config check`` warn about it.
* **Per-hall closures and extra openings** (``[hall.calendar]``): ``closures`` (a date and a
  reason) close the whole day; ``extra`` openings add periods on given weekdays or dates —
  extended hours (延时服务) or weekend appointment days (周末预约, ``appointments_only``).
  Extra openings on a weekday do not apply on national holidays; on a given date they do.

A walk-in ticket may be taken only during a period that is not ``appointments_only``;
appointment slots lie in any period. Working-day deadlines (限时办结, rating cases) count
national working days the hall is not closed on.
"""

from __future__ import annotations

import functools
import itertools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hall.text import parse_hhmm

_DAYS: dict[str, tuple[float, float, str]] = {}  # zone -> its last day seen: [start, end)


def local_day(now: float, zone: ZoneInfo) -> str:
    """The business day (local date, yyyymmdd) at ``now`` in ``zone``: numbering restarts,
    day keys turn and audit chains start at its midnight. Cached per zone: hot paths ask it
    on every request."""
    cached = _DAYS.get(zone.key)
    if cached is not None and cached[0] <= now < cached[1]:
        return cached[2]
    local = datetime.fromtimestamp(now, zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(tzinfo=zone)
    day = local.strftime("%Y%m%d")
    _DAYS[zone.key] = (start.timestamp(), end.timestamp(), day)
    return day

HOLIDAYS_DIR = Path(__file__).parent / "holidays"
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))  # 全国年节及纪念日放假办法
SEARCH_DAYS = 400
DEFAULT_PERIODS = ("09:00-12:00", "13:30-17:30")


@dataclass(frozen=True)
class Period:
    """An opening period of one day, local time; ``end`` is exclusive."""

    start: time
    end: time
    appointments_only: bool = False

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class NationalCalendar:
    """Statutory holidays and make-up working days, by date, with each day's name."""

    holidays: Mapping[date, tuple[str, str]] = field(default_factory=dict)
    workdays: Mapping[date, tuple[str, str]] = field(default_factory=dict)
    years: frozenset[int] = frozenset()

    def holiday(self, day: date) -> tuple[str, str] | None:
        """The holiday's (zh, en) name, or None on an ordinary day or a make-up day."""
        if day in self.holidays:
            return self.holidays[day]
        if day.year not in self.years and (day.month, day.day) in FIXED_HOLIDAYS:
            return ("法定节假日", "Public holiday")
        return None

    def is_makeup_workday(self, day: date) -> bool:
        return day in self.workdays

    def is_working_day(self, day: date) -> bool:
        if self.holiday(day) is not None:
            return False
        return day.isoweekday() <= 5 or self.is_makeup_workday(day)


@dataclass(frozen=True)
class ExtraOpening:
    """Periods added on some weekdays or dates (延时服务, 周末预约)."""

    periods: tuple[Period, ...]
    weekdays: frozenset[int] = frozenset()
    dates: frozenset[date] = frozenset()


@dataclass(frozen=True)
class HallCalendar:
    """One hall's opening calendar in its time zone."""

    timezone: str
    weekly: Mapping[int, tuple[Period, ...]]
    national: NationalCalendar = field(default_factory=NationalCalendar)
    closures: Mapping[date, str] = field(default_factory=dict)
    extra: tuple[ExtraOpening, ...] = ()
    observe_holidays: bool = True

    @functools.cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @functools.cached_property
    def _workday_hours(self) -> tuple[Period, ...]:
        # a make-up working day keeps the hours of an ordinary working day (Monday first)
        for weekday in range(1, 6):
            if self.weekly.get(weekday):
                return self.weekly[weekday]
        return ()

    def holiday(self, day: date) -> tuple[str, str] | None:
        return self.national.holiday(day) if self.observe_holidays else None

    def periods_on(self, day: date) -> tuple[Period, ...]:
        """The day's opening periods in order; () when the hall is closed all day."""
        if day in self.closures:
            return ()
        holiday = self.holiday(day) is not None
        if holiday:
            base: tuple[Period, ...] = ()
        elif self.observe_holidays and self.national.is_makeup_workday(day):
            base = self._workday_hours
        else:
            base = tuple(self.weekly.get(day.isoweekday(), ()))
        added: list[Period] = []
        for extra in self.extra:
            if day in extra.dates or (not holiday and day.isoweekday() in extra.weekdays):
                added.extend(extra.periods)
        return _merge(base, added)

    def local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.tz)

    def at(self, day: date, moment: time) -> float:
        """POSIX seconds of a local wall-clock time on a day."""
        return datetime.combine(day, moment, self.tz).timestamp()

    def period_at(self, now: float, walk_in: bool = True) -> Period | None:
        """The period open at ``now`` (for walk-ins: not an appointments-only one)."""
        moment = self.local(now)
        for period in self.periods_on(moment.date()):
            if walk_in and period.appointments_only:
                continue
            if period.start <= moment.time() < period.end:
                return period
        return None

    def is_open(self, now: float, walk_in: bool = True) -> bool:
        return self.period_at(now, walk_in) is not None

    def next_opening(self, now: float, walk_in: bool = True) -> datetime | None:
        """The start of the next period (after ``now``) a walk-in (or a booking) may use."""
        moment = self.local(now)
        day = moment.date()
        for offset in range(SEARCH_DAYS):
            current = day + timedelta(days=offset)
            for period in self.periods_on(current):
                if walk_in and period.appointments_only:
                    continue
                start = datetime.combine(current, period.start, self.tz)
                if start > moment:
                    return start
        return None

    def closes_at(self, now: float, walk_in: bool = True) -> datetime | None:
        period = self.period_at(now, walk_in)
        if period is None:
            return None
        return datetime.combine(self.local(now).date(), period.end, self.tz)

    def is_working_day(self, day: date) -> bool:
        """A national working day (调休 counted) on which this hall is not closed."""
        return day not in self.closures and self.national.is_working_day(day)

    def add_working_days(self, start: float, days: int) -> date:
        """The date of the ``days``-th working day after the local day of ``start``."""
        current = self.local(start).date()
        counted = 0
        for _ in range(SEARCH_DAYS * 2):
            if counted >= days:
                return current
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def working_deadline(self, start: float, days: int) -> float:
        """POSIX seconds of the end (local midnight) of the ``days``-th working day after."""
        last = self.add_working_days(start, days)
        return self.at(last + timedelta(days=1), time(0, 0))

    def provisional(self, day: date) -> bool:
        """True when the day's year has no holiday file (and the hall observes national
        holidays): the day is judged by its weekday and the fixed-date holidays only, so it
        may change when the year's schedule is published (module doc)."""
        return self.observe_holidays and day.year not in self.national.years

    def missing_years(self, now: float, ahead_days: int = 60) -> list[int]:
        """Years from today to ``ahead_days`` ahead that have no holiday file (none when the
        hall does not observe national holidays)."""
        first = self.local(now).date()
        last = first + timedelta(days=max(0, ahead_days))
        return [y for y in range(first.year, last.year + 1) if self.provisional(date(y, 1, 1))]


def _merge(base: Iterable[Period], added: Iterable[Period]) -> tuple[Period, ...]:
    return tuple(sorted({*base, *added}, key=lambda p: (p.start, p.end)))


# ---- reading data ------------------------------------------------------------------


def parse_period(text: str, appointments_only: bool = False) -> Period:
    """'09:00-12:00' → Period; raise ValueError naming the expected form."""
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise ValueError(f"must look like '09:00-12:00', got {text!r}")
    try:
        start, end = (parse_hhmm(p.strip()) for p in parts)
    except ValueError:
        raise ValueError(f"must look like '09:00-12:00', got {text!r}") from None
    if start >= end:
        raise ValueError(f"must end after it starts, got {text!r}")
    return Period(start, end, appointments_only)


def _period_list(raw: Any, where: str, problems: list[str],
                 appointments_only: bool = False) -> tuple[Period, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list like ['09:00-12:00', '13:30-17:30']")
        return ()
    out: list[Period] = []
    for i, text in enumerate(raw):
        try:
            out.append(parse_period(text, appointments_only))
        except ValueError as exc:
            problems.append(f"{where}[{i}]: {exc}")
    ordered = sorted(out, key=lambda p: p.start)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            problems.append(f"{where}: periods {a.label()} and {b.label()} overlap")
    return tuple(ordered)


def _weekdays(raw: Any, where: str, problems: list[str]) -> frozenset[int]:
    if not isinstance(raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in raw
    ):
        problems.append(f"{where}: must list ISO weekdays 1 (Monday) to 7 (Sunday)")
        return frozenset()
    return frozenset(raw)


def _dates(raw: Any, where: str, problems: list[str]) -> frozenset[date]:
    if not isinstance(raw, list) or not all(
        isinstance(d, date) and not isinstance(d, datetime) for d in raw
    ):
        problems.append(f"{where}: must list dates like 2026-12-05 (TOML dates, no quotes)")
        return frozenset()
    return frozenset(raw)


HOURS_FIELDS = frozenset({"weekdays", "periods", "by_weekday"})
CALENDAR_FIELDS = frozenset({"holidays", "closures", "extra"})
EXTRA_FIELDS = frozenset({"weekdays", "dates", "periods", "appointments_only"})


def parse_calendar(
    timezone: str, hours: Any, calendar: Any, national: NationalCalendar | None = None
) -> tuple[HallCalendar, list[str]]:
    """Build a hall's calendar from its ``[hall.hours]`` and ``[hall.calendar]`` tables.

    Returns the calendar and the problems found, each as 'field: explanation'.
    """
    problems: list[str] = []
    hours = {} if hours is None else hours
    calendar = {} if calendar is None else calendar
    if not isinstance(hours, dict):
        problems.append("hall.hours: must be a table")
        hours = {}
    if not isinstance(calendar, dict):
        problems.append("hall.calendar: must be a table")
        calendar = {}
    for key in sorted(set(hours) - HOURS_FIELDS):
        problems.append(
            f"hall.hours.{key}: unknown field (known: {', '.join(sorted(HOURS_FIELDS))})")
    for key in sorted(set(calendar) - CALENDAR_FIELDS):
        problems.append(
            f"hall.calendar.{key}: unknown field (known: {', '.join(sorted(CALENDAR_FIELDS))})")
    weekdays = _weekdays(hours.get("weekdays", [1, 2, 3, 4, 5]), "hall.hours.weekdays", problems)
    periods = _period_list(hours.get("periods", list(DEFAULT_PERIODS)), "hall.hours.periods",
                           problems)
    weekly: dict[int, tuple[Period, ...]] = {d: periods for d in weekdays}
    by_weekday = hours.get("by_weekday", {})
    if not isinstance(by_weekday, dict):
        problems.append("hall.hours.by_weekday: must be a table like { 3 = ['09:00-19:00'] }")
        by_weekday = {}
    for key, value in by_weekday.items():
        if not (isinstance(key, str) and key.isdigit() and 1 <= int(key) <= 7):
            problems.append(f"hall.hours.by_weekday.{key}: must be an ISO weekday 1 to 7")
            continue
        weekly[int(key)] = _period_list(value, f"hall.hours.by_weekday.{key}", problems)

    mode = calendar.get("holidays", "national")
    if mode not in ("national", "none"):
        problems.append(f"hall.calendar.holidays: must be 'national' or 'none', got {mode!r}")
    closures: dict[date, str] = {}
    raw_closures = calendar.get("closures", [])
    if not isinstance(raw_closures, list):
        problems.append("hall.calendar.closures: must be a list of {date = …, reason = …}")
        raw_closures = []
    for i, item in enumerate(raw_closures):
        when = item.get("date") if isinstance(item, dict) else None
        reason = item.get("reason", "") if isinstance(item, dict) else ""
        if not isinstance(when, date) or isinstance(when, datetime) or not isinstance(reason, str):
            problems.append(f"hall.calendar.closures[{i}]: needs date = 2026-12-24 "
                            "(a TOML date) and an optional reason text")
            continue
        closures[when] = reason
    extra: list[ExtraOpening] = []
    raw_extra = calendar.get("extra", [])
    if not isinstance(raw_extra, list):
        problems.append("hall.calendar.extra: must be an array of tables ([[hall.calendar.extra]])")
        raw_extra = []
    for i, item in enumerate(raw_extra):
        where = f"hall.calendar.extra[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a table")
            continue
        for key in sorted(set(item) - EXTRA_FIELDS):
            problems.append(f"{where}.{key}: unknown field "
                            f"(known: {', '.join(sorted(EXTRA_FIELDS))})")
        only = item.get("appointments_only", False)
        if not isinstance(only, bool):
            problems.append(f"{where}.appointments_only: must be true or false")
            only = False
        opening = ExtraOpening(
            periods=_period_list(item.get("periods", []), f"{where}.periods", problems, only),
            weekdays=_weekdays(item.get("weekdays", []), f"{where}.weekdays", problems),
            dates=_dates(item.get("dates", []), f"{where}.dates", problems),
        )
        if not opening.periods or not (opening.weekdays or opening.dates):
            problems.append(f"{where}: needs periods and weekdays or dates")
        extra.append(opening)
    cal = HallCalendar(
        timezone=timezone, weekly=weekly,
        national=national if national is not None else national_calendar(),
        closures=closures, extra=tuple(extra), observe_holidays=mode != "none",
    )
    return cal, problems


def load_holiday_file(path: Path) -> tuple[int, dict[date, tuple[str, str]],
                                           dict[date, tuple[str, str]]]:
    """Read one year's file: (year, holidays by date, make-up working days by date)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    year = int(raw["year"])
    holidays: dict[date, tuple[str, str]] = {}
    workdays: dict[date, tuple[str, str]] = {}
    for item in raw.get("holidays", []):
        name = (str(item["name_zh"]), str(item["name_en"]))
        first, last = item["from"], item["to"]
        if not isinstance(first, date) or not isinstance(last, date) or last < first:
            raise ValueError(f"{path}: holiday {name[0]}: from/to must be dates, from ≤ to")
        day = first
        while day <= last:
            holidays[day] = name
            day += timedelta(days=1)
        for work in item.get("workdays", []):
            workdays[work] = (f"{name[0]}调休上班", f"{name[1]} make-up working day")
    return year, holidays, workdays


@functools.lru_cache(maxsize=8)
def national_calendar(folder: Path = HOLIDAYS_DIR) -> NationalCalendar:
    """Every year file of a folder (default: the bundled ``hall/holidays``)."""
    holidays: dict[date, tuple[str, str]] = {}
    workdays: dict[date, tuple[str, str]] = {}
    years: set[int] = set()
    for path in sorted(folder.glob("*.toml")):
        year, h, w = load_holiday_file(path)
        years.add(year)
        holidays.update(h)
        workdays.update(w)
    return NationalCalendar(holidays, workdays, frozenset(years))
