"""The declared answers of the appointments API (``response=`` of ``hall.http.api``).

Strict models (any other field breaks the schema, so a leak fails the fuzzing test's
schema check): a booking as its holder sees it (``Booking.public_dict`` plus its QR and
page links), a challenge, a day's slots, a check-in, the dead-letter list.
"""

from __future__ import annotations

from pydantic import BaseModel

from hall.http import STRICT
from ticketing.public import CitizenView


class BookingView(BaseModel):
    """``Booking.public_dict`` (personal data masked) with its QR code and page links."""

    model_config = STRICT
    id: str
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
