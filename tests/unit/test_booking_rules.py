"""Slots, capacity with the walk-in share, booking limits, no-show blocking, check-in window."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from hall.calendar import parse_calendar
from hall.config import HallConfig
from hall.errors import Forbidden, IllegalTransition
from ticketing import booking_rules as br
from ticketing.slots import day_slots, per_slot, slot_capacity, window_equivalents

TZ = ZoneInfo("Asia/Shanghai")
DAY = 86400.0


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).timestamp()


CAL, _ = parse_calendar("Asia/Shanghai", {"periods": ["08:30-12:00", "14:00-17:30"]}, {})


def test_day_slots_tile_the_periods() -> None:
    slots = day_slots(CAL, date(2026, 11, 18), 30)
    assert [s.label for s in slots][:2] == ["0830", "0900"]
    assert len(slots) == 7 + 7
    assert "1200" not in {s.label for s in slots} and "1400" in {s.label for s in slots}
    assert day_slots(CAL, date(2026, 10, 1), 30) == []  # 国庆


def test_capacity_keeps_the_walk_in_share(halls: dict[str, HallConfig]) -> None:
    town = halls["town"]
    # queue A: window 1 serves H, A, B (1/3 of its time to A), windows 2–4 serve A and the
    # integrated B (1/2 each); tide window 5 is not counted; two matters share queue A
    assert window_equivalents(town, "MZ-JZ") == pytest.approx((1 / 3 + 3 / 2) / 2)
    exact = per_slot(town, "MZ-JZ", 30, 0.5)  # 0.917 × 30 / 10 × 0.5 = 1.375
    assert exact == pytest.approx(1.375)
    caps = [slot_capacity(town, "MZ-JZ", 30, 0.5, i) for i in range(14)]
    assert caps[:4] == [1, 1, 2, 1] and sum(caps) == 19  # floor(14 × 1.375)
    # a matter with less than one place per slot still gets some slots
    assert sum(slot_capacity(halls["district"], "QY-KB", 30, 0.5, i) for i in range(14)) > 0
    # summed over every matter and slot, bookings take at most half of the windows' time
    for cfg in halls.values():
        booked_minutes = sum(
            slot_capacity(cfg, m.code, 30, 0.5, i) * m.expected_minutes
            for m in cfg.matters for i in range(14))
        non_tide = sum(1 for w in cfg.windows if w.kind.value != "tide")
        assert booked_minutes <= 0.5 * non_tide * 30 * 14 + 1e-9


def test_settings_are_checked() -> None:
    s, problems = br.parse_settings({"slot_minutes": 25, "walk_in_share": 1.5, "bogus": 1,
                                     "kiosk_identity": "sometimes", "release_time": "8am"})
    assert len(problems) == 5
    s, problems = br.parse_settings({"slot_minutes": 15, "walk_in_share": 0.6})
    assert problems == [] and s.slot_minutes == 15 and s.walk_in_share == 0.6


def test_release_and_cutoff() -> None:
    s = br.AppointmentSettings(horizon_days=7, release_time="08:00", cutoff_minutes=60)
    day = date(2026, 11, 25)
    slot = at(2026, 11, 25, 9, 0)
    with pytest.raises(IllegalTransition) as exc:
        br.require_bookable(CAL, day, slot, at(2026, 11, 18, 7, 59), s)
    assert exc.value.code == "not_yet_bookable"
    br.require_bookable(CAL, day, slot, at(2026, 11, 18, 8, 0), s)
    with pytest.raises(IllegalTransition) as exc:
        br.require_bookable(CAL, day, slot, at(2026, 11, 25, 8, 1), s)
    assert exc.value.code == "past_cutoff"
    days = br.bookable_days(CAL, at(2026, 11, 18, 8, 0), s)
    assert days[0] == date(2026, 11, 18) and days[-1] == day
    assert date(2026, 11, 21) not in days  # Saturday


def test_no_shows_block_for_a_while() -> None:
    s = br.AppointmentSettings(no_show_limit=3, no_show_window_days=180, block_days=90)
    t0 = at(2026, 1, 5, 10)
    two = [t0, t0 + 10 * DAY]
    assert br.blocked_until(two, t0 + 20 * DAY, s) is None
    three = [*two, t0 + 100 * DAY]
    assert br.blocked_until(three, t0 + 101 * DAY, s) == t0 + 190 * DAY
    assert br.blocked_until(three, t0 + 191 * DAY, s) is None
    spread = [t0, t0 + 100 * DAY, t0 + 200 * DAY]  # never 3 within 180 days
    assert br.blocked_until(spread, t0 + 201 * DAY, s) is None
    with pytest.raises(Forbidden) as exc:
        br.require_not_blocked(three, t0 + 101 * DAY, s, CAL)
    assert exc.value.code == "booking_blocked"


def test_checkin_window_and_order_key() -> None:
    s = br.AppointmentSettings(checkin_before_minutes=30, checkin_after_minutes=15)
    slot = at(2026, 11, 18, 10, 0)
    assert br.checkin_verdict(slot, slot - 31 * 60, s) is br.CheckIn.EARLY
    assert br.checkin_verdict(slot, slot - 30 * 60, s) is br.CheckIn.ON_TIME
    assert br.checkin_verdict(slot, slot + 15 * 60, s) is br.CheckIn.ON_TIME
    assert br.checkin_verdict(slot, slot + 15 * 60 + 1, s) is br.CheckIn.LATE
    assert br.checkin_order_key(slot) == slot
    monday, next_monday = br.week_bounds(CAL, date(2026, 11, 18))
    assert monday == at(2026, 11, 16) and next_monday == at(2026, 11, 23)


def test_day_figures_per_matter_and_slot(halls: dict[str, HallConfig]) -> None:
    """The managers' figures (ticketing/booking_figures.py) from bookings and tickets."""
    from ticketing.appointments import Booking
    from ticketing.booking_figures import day_figures
    from ticketing.model import Channel, Ticket

    cfg = halls["town"]

    def booking(slot: str, status: str, matter: str = "MZ-JZ") -> Booking:
        return Booking(id=f"{slot}{status}", code="C", hall="town", matter=matter,
                       day="20261119", slot=slot, slot_start=0.0, slot_end=0.0, name="n",
                       phone="", id_masked="", identity="k", status=status)

    def ticket(appointment: bool, matter: str = "MZ-JZ") -> Ticket:
        return Ticket(id="t", hall="town", day="20261119", queue="A", matter=matter,
                      channel=Channel.APPOINTMENT if appointment else Channel.KIOSK,
                      issued_at=0.0, enqueued_at=0.0, appointment=appointment)

    slots = {"MZ-JZ": [{"slot": "0900", "time": "09:00", "capacity": 2, "booked": 2},
                       {"slot": "0930", "time": "09:30", "capacity": 1, "booked": 1}]}
    bookings = [booking("0900", "checked_in"), booking("0900", "no_show"),
                booking("0930", "booked")]
    tickets = [ticket(True), ticket(False), ticket(False), ticket(False, "JY-DJ")]
    out = day_figures(cfg, slots, bookings, tickets)
    mz = next(m for m in out["matters"] if m["matter"] == "MZ-JZ")
    assert (mz["capacity"], mz["booked"], mz["checked_in"], mz["no_show"], mz["open"]) == (
        3, 3, 1, 1, 1)
    assert mz["fill_rate"] == 1.0 and mz["no_show_rate"] == 0.5
    assert (mz["tickets"], mz["walk_ins"], mz["walk_in_share"]) == (3, 2, 0.667)
    first = mz["slots"][0]
    assert (first["booked"], first["checked_in"], first["no_show"], first["no_show_rate"]) == (
        2, 1, 1, 0.5)
    assert mz["slots"][1]["no_show_rate"] is None  # nobody's time has passed yet
    jy = next(m for m in out["matters"] if m["matter"] == "JY-DJ")
    assert jy["fill_rate"] is None and jy["walk_in_share"] == 1.0
    assert out["total"]["tickets"] == 4 and out["total"]["walk_in_share"] == 0.75
