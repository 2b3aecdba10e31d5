"""好差评 rules: who may rate, working-day deadlines, closing a case, the target rates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hall.errors import IllegalTransition, Invalid
from ticketing import ratings
from ticketing.model import Channel, Ticket, TicketStatus

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


def done_ticket(done_at: float) -> Ticket:
    return Ticket(id="t1", hall="h", day="20261118", queue="A", matter="M", channel=Channel.KIOSK,
                  issued_at=done_at - 600, enqueued_at=done_at - 600, number="A001",
                  status=TicketStatus.DONE, window=3, clerk="S01", done_at=done_at)


@pytest.mark.parametrize(("rated", "days", "deadline"), [
    ("2026-11-18 09:00", 5, "2026-11-26 00:00"),   # Wed → end of next Wed
    ("2026-11-20 16:00", 1, "2026-11-24 00:00"),   # Fri → end of Mon
    ("2026-11-21 10:00", 1, "2026-11-24 00:00"),   # Sat → end of Mon
    ("2026-11-18 23:59", 15, "2026-12-10 00:00"),  # three working weeks
])
def test_deadline_counts_working_days(rated, days, deadline):
    assert ratings.add_working_days(at(rated), days, TZ) == at(deadline)


def test_only_done_tickets_within_the_period():
    t = done_ticket(at("2026-11-18 10:00"))
    r = ratings.rate(t, "satisfied", "  ok ", at("2026-11-18 10:05"), 60, "pad")
    assert (r.level, r.comment, r.window, r.clerk, r.source) == (
        ratings.RatingLevel.SATISFIED, "ok", 3, "S01", "pad")
    with pytest.raises(IllegalTransition) as late:
        ratings.rate(t, "satisfied", "", at("2026-11-18 11:00:01"), 60, "pad")
    assert late.value.code == "rating_expired"
    with pytest.raises(Invalid):
        ratings.rate(t, "superb", "", at("2026-11-18 10:05"), 60, "pad")
    waiting = Ticket(**{**t.__dict__, "status": TicketStatus.WAITING})
    with pytest.raises(IllegalTransition) as not_done:
        ratings.rate(waiting, "satisfied", "", at("2026-11-18 10:05"), 60, "pad")
    assert not_done.value.code == "not_done"


def test_only_bad_ratings_open_cases_and_a_case_closes_when_complete():
    now = at("2026-11-18 10:05")
    t = done_ticket(at("2026-11-18 10:00"))
    for level in ("very_satisfied", "satisfied", "basically_satisfied"):
        assert ratings.open_case(ratings.rate(t, level, "", now, 60, "pad"), 5, TZ) is None
    case = ratings.open_case(ratings.rate(t, "dissatisfied", "", now, 60, "pad"), 5, TZ)
    assert case is not None and case.status(now) is ratings.CaseStatus.OPEN
    assert case.status(case.deadline + 1) is ratings.CaseStatus.OVERDUE
    step = ratings.handle_case(case, now, "m", reasonable=True, rectification=None, reply="回复")
    assert step.closed_at is None  # reasonable but not rectified yet
    done = ratings.handle_case(step, now + 5, "m", reasonable=None, rectification="整改",
                               reply=None)
    assert done.closed_at == now + 5 and done.status(done.deadline + 1) is ratings.CaseStatus.CLOSED
    rates = ratings.rates(served=10, rated=9, cases=[done, case])
    assert (rates.rating_rate, rates.rectification_rate, rates.reply_rate) == (0.9, 1.0, 0.5)


def test_case_deadlines_count_the_hall_calendar() -> None:
    """5 working days from Wed 30 Sep 2026: 国庆 1–7 Oct off, Sat 10 Oct a 调休 working day."""
    from hall.calendar import parse_calendar

    cal, _ = parse_calendar("Asia/Shanghai", {}, {})
    rated = datetime(2026, 9, 30, 10, 0, tzinfo=TZ).timestamp()
    deadline = ratings.add_working_days(rated, 5, TZ, cal)
    assert deadline == datetime(2026, 10, 14, 0, 0, tzinfo=TZ).timestamp()
    assert ratings.add_working_days(rated, 5, TZ) == datetime(
        2026, 10, 8, 0, 0, tzinfo=TZ).timestamp()  # Mon–Fri only, without the calendar
