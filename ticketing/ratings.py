"""好差评 rules, pure: who may rate what and when, the rectification case a bad rating opens.

Nothing here touches Redis or HTTP. A rating is given once per finished ticket,
within the hall's rating period; 不满意 and 非常不满意 open a rectification case
whose deadline is a number of working days (Monday to Friday, hall local time)
after the rating. A case is closed when the manager has judged whether it is
reasonable, recorded the rectification (reasonable cases only) and the reply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from hall.calendar import HallCalendar
from hall.errors import IllegalTransition, Invalid
from ticketing.model import Ticket, TicketStatus


class RatingLevel(str, Enum):
    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    VERY_DISSATISFIED = "very_dissatisfied"

    @property
    def is_bad(self) -> bool:
        return self in (RatingLevel.DISSATISFIED, RatingLevel.VERY_DISSATISFIED)


LEVELS = tuple(level.value for level in RatingLevel)
LEVEL_NAMES_ZH = {
    RatingLevel.VERY_SATISFIED: "非常满意",
    RatingLevel.SATISFIED: "满意",
    RatingLevel.BASICALLY_SATISFIED: "基本满意",
    RatingLevel.DISSATISFIED: "不满意",
    RatingLevel.VERY_DISSATISFIED: "非常不满意",
}


class CaseStatus(str, Enum):
    OPEN = "open"
    OVERDUE = "overdue"
    CLOSED = "closed"


@dataclass(frozen=True)
class Rating:
    """One 好差评, linked to its ticket, matter, queue, window and the clerk who served it,
    and to the first clerk who took the ticket (首问负责: answerable for it too)."""

    ticket: str
    hall: str
    day: str
    number: str
    matter: str
    queue: str
    window: int | None
    clerk: str | None
    level: RatingLevel
    comment: str
    at: float
    source: str  # "pad" (the window's rating pad) or "citizen" (the ticket page)
    first_clerk: str | None = None
    first_window: int | None = None

    @property
    def answerable(self) -> tuple[str, ...]:
        """The clerks a bad rating's case names: who served, and the first clerk if other."""
        clerks = [c for c in (self.clerk, self.first_clerk) if c]
        return tuple(dict.fromkeys(clerks))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["level"] = self.level.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rating:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["level"] = RatingLevel(data["level"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Case:
    """The rectification loop of one bad rating: evaluation → rectification → reply."""

    ticket: str
    hall: str
    rating: Rating
    opened_at: float
    deadline: float
    reasonable: bool | None = None
    rectification: str = ""
    reply: str = ""
    closed_at: float | None = None
    handled_by: str = ""

    def status(self, now: float) -> CaseStatus:
        if self.closed_at is not None:
            return CaseStatus.CLOSED
        return CaseStatus.OVERDUE if now > self.deadline else CaseStatus.OPEN

    @property
    def rectified(self) -> bool:
        return self.reasonable is True and bool(self.rectification)

    @property
    def replied(self) -> bool:
        return bool(self.reply)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rating"] = self.rating.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["rating"] = Rating.from_dict(data["rating"])
        return cls(**kwargs)


def rating_open(ticket: Ticket, now: float, period_minutes: float) -> bool:
    """A ticket may be rated when it is done and its rating period has not run out."""
    return (ticket.status is TicketStatus.DONE and ticket.done_at is not None
            and now - ticket.done_at <= period_minutes * 60)


def rate(ticket: Ticket, level: str, comment: str, now: float, period_minutes: float,
         source: str) -> Rating:
    """The rating of a finished ticket; refuses an unknown level, an unfinished or expired one."""
    try:
        chosen = RatingLevel(level)
    except ValueError:
        raise Invalid(f"level must be one of {', '.join(LEVELS)}", code="invalid_field") from None
    if ticket.status is not TicketStatus.DONE:
        raise IllegalTransition(
            f"ticket {ticket.number} is {ticket.status.value}; only a finished service is rated",
            code="not_done")
    if not rating_open(ticket, now, period_minutes):
        raise IllegalTransition(
            f"the rating period of ticket {ticket.number} is over", code="rating_expired")
    return Rating(ticket=ticket.id, hall=ticket.hall, day=ticket.day, number=ticket.number,
                  matter=ticket.matter, queue=ticket.queue, window=ticket.window,
                  clerk=ticket.clerk, level=chosen, comment=comment.strip(), at=now,
                  source=source, first_clerk=ticket.first_clerk,
                  first_window=_first_window(ticket))


def _first_window(ticket: Ticket) -> int | None:
    step = next((s for s in ticket.history if s.action == "called"), None)
    return step.window if step else None


def add_working_days(now: float, days: int, tz: ZoneInfo,
                     calendar: HallCalendar | None = None) -> float:
    """End (local midnight) of the ``days``-th working day after ``now``'s day.

    Working days are the hall calendar's (national holidays and 调休 counted, hall closures
    skipped; hall/calendar.py); without a calendar, Monday to Friday.
    """
    if calendar is not None:
        return calendar.working_deadline(now, days)
    day = datetime.fromtimestamp(now, tz).date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            left -= 1
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
    return end.timestamp()


def open_case(rating: Rating, working_days: int, tz: ZoneInfo,
              calendar: HallCalendar | None = None) -> Case | None:
    """The rectification case a bad rating opens (None for a good one)."""
    if not rating.level.is_bad:
        return None
    return Case(ticket=rating.ticket, hall=rating.hall, rating=rating, opened_at=rating.at,
                deadline=add_working_days(rating.at, working_days, tz, calendar))


def handle_case(case: Case, now: float, by: str, *, reasonable: bool | None,
                rectification: str | None, reply: str | None) -> Case:
    """Record the manager's judgement, rectification and reply; close the case when complete."""
    if case.closed_at is not None:
        raise IllegalTransition("this case is already closed", code="case_closed")
    changed = dataclasses.replace(
        case,
        reasonable=case.reasonable if reasonable is None else reasonable,
        rectification=case.rectification if rectification is None else rectification.strip(),
        reply=case.reply if reply is None else reply.strip(),
        handled_by=by,
    )
    if changed.rectification and changed.reasonable is False:
        raise Invalid("a rating judged not reasonable needs no rectification; leave it empty",
                      code="rectification_not_needed")
    complete = changed.reasonable is not None and changed.replied and (
        changed.reasonable is False or changed.rectified)
    return dataclasses.replace(changed, closed_at=now if complete else None)


@dataclass(frozen=True)
class Rates:
    """The rates the seeds set targets for, as fractions (None when there is nothing to rate)."""

    served: int
    rated: int
    bad: int
    reasonable_bad: int
    rectified: int
    replied: int

    @property
    def rating_rate(self) -> float | None:
        return self.rated / self.served if self.served else None

    @property
    def rectification_rate(self) -> float | None:
        return self.rectified / self.reasonable_bad if self.reasonable_bad else None

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.bad if self.bad else None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(rating_rate=self.rating_rate, rectification_rate=self.rectification_rate,
                    reply_rate=self.reply_rate)
        return data


def rates(served: int, rated: int, cases: list[Case]) -> Rates:
    """Rating rate = rated / served; rectification rate over reasonable bad ratings; reply rate."""
    return Rates(
        served=served, rated=rated, bad=len(cases),
        reasonable_bad=sum(1 for c in cases if c.reasonable is True),
        rectified=sum(1 for c in cases if c.rectified),
        replied=sum(1 for c in cases if c.replied),
    )
