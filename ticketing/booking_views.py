"""The declared answers of the appointments API (``response=`` of ``hall.http.api``).

Strict models (any other field breaks the schema, so a leak fails the fuzzing test's
schema check): a booking as its holder sees it (``Booking.public_dict`` plus its QR and
page links), a challenge, a day's slots, a check-in, the dead-letter list, the calendar and
a day's figures for staff.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hall.http import STRICT
from ticketing.public import CitizenView


class ListedBooking(BaseModel):
    """A booking in the day's list for staff: ``Booking.public_dict`` without its id."""

    model_config = STRICT
    code: str
    hall: str
    matter: str
    day: str
    slot: str
    slot_start: float
    slot_end: float
    name: str
    phone: str
    id_number: str
    status: str
    ticket_id: str | None
    lang: str


class BookingView(ListedBooking):
    """``Booking.public_dict`` (personal data masked) with its QR code and page links."""

    id: str
    qr: str
    page: str


class ChallengeView(BaseModel):
    model_config = STRICT
    challenge: str
    bits: int


class SlotView(BaseModel):
    model_config = STRICT
    slot: str
    start: float
    end: float
    time: str
    capacity: int
    booked: int
    free: int
    open: bool


class SlotsView(BaseModel):
    model_config = STRICT
    hall: str
    matter: str
    day: str
    slot_minutes: int
    slots: list[SlotView]


class CheckinView(BaseModel):
    model_config = STRICT
    booking: BookingView
    late: bool
    ticket: CitizenView  # type: ignore[valid-type]


class DeadLetter(BaseModel):
    """A message the gateway refused after every retry (phone masked)."""

    model_config = STRICT
    at: float
    kind: str
    reason: str
    to: str
    error: str


class DeadLetters(BaseModel):
    model_config = STRICT
    dead: list[DeadLetter]


class PeriodView(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    appointments_only: bool


class CalendarDay(BaseModel):
    model_config = STRICT
    day: str
    weekday: int
    periods: list[PeriodView]
    holiday_zh: str | None
    holiday_en: str | None
    makeup_workday: bool
    provisional: bool  # the year has no holiday file: weekly hours alone (hall/calendar.py)
    closure: str | None


class CalendarAppointments(BaseModel):
    model_config = STRICT
    enabled: bool
    slot_minutes: int
    horizon_days: int


class CalendarView(BaseModel):
    model_config = STRICT
    open_now: bool
    next_opening: str | None
    timezone: str
    days: list[CalendarDay]
    appointments: CalendarAppointments


class Figures(BaseModel):
    """``ticketing.booking_figures``: what a slot, a matter and the day share."""

    model_config = STRICT
    capacity: int
    booked: int
    open: int
    checked_in: int
    late: int
    no_show: int
    fill_rate: float | None
    no_show_rate: float | None


class SlotFigures(Figures):
    slot: str
    time: str


class MatterFigures(Figures):
    matter: str
    name_zh: str
    name_en: str
    tickets: int
    walk_ins: int
    walk_in_share: float | None
    slots: list[SlotFigures]


class TotalFigures(Figures):
    tickets: int
    walk_ins: int
    walk_in_share: float | None


class DayFiguresView(BaseModel):
    model_config = STRICT
    day: str
    matters: list[MatterFigures]
    total: TotalFigures
    statuses: dict[str, int]
    no_show_rate: float | None
    provisional: bool
    bookings: list[ListedBooking]
