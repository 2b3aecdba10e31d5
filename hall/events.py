"""The shared event schema of a hall's event stream (one Redis Stream per hall).

Each stream entry has three fields: ``type`` (an ``EventType`` value), ``at``
(POSIX seconds, the writer's clock) and ``data`` (a JSON object). Readers (the
display hub, the voice dispatcher, the tide controller, reports) decode entries
with ``Event.from_fields``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventType(str, Enum):
    TICKET_ISSUED = "ticket.issued"
    TICKET_CALLED = "ticket.called"
    TICKET_RECALLED = "ticket.recalled"
    TICKET_SERVING = "ticket.serving"
    TICKET_DONE = "ticket.done"
    TICKET_NO_SHOW = "ticket.no_show"
    TICKET_REJOINED = "ticket.rejoined"
    TICKET_TRANSFERRED = "ticket.transferred"
    TICKET_CANCELLED = "ticket.cancelled"
    WINDOW_CHANGED = "window.changed"
    TIDE_DECISION = "tide.decision"
    TIDE_OVERRIDE = "tide.override"
    TIDE_PLAN = "tide.plan"  # a staffing plan for a day was saved (hall plan --save)
    RATING_GIVEN = "rating.given"
    RATING_CASE = "rating.case"  # a rectification case was judged, rectified or replied to
    APPOINTMENT_BOOKED = "appointment.booked"
    APPOINTMENT_CHANGED = "appointment.changed"
    APPOINTMENT_CANCELLED = "appointment.cancelled"
    APPOINTMENT_CHECKED_IN = "appointment.checked_in"  # on time: an appointment ticket
    APPOINTMENT_LATE = "appointment.late"  # after the check-in window: a walk-in ticket
    APPOINTMENT_NO_SHOW = "appointment.no_show"
    ANNOUNCE = "voice.announce"
    NOTICE = "hall.notice"


CALL_EVENTS = frozenset({EventType.TICKET_CALLED, EventType.TICKET_RECALLED})


@dataclass(frozen=True)
class Event:
    type: EventType
    at: float
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def to_fields(self) -> dict[str, str]:
        return {
            "type": self.type.value,
            "at": repr(self.at),
            "data": json.dumps(self.data, ensure_ascii=False, separators=(",", ":")),
        }

    @classmethod
    def from_fields(cls, entry_id: str, fields: dict[str, str]) -> Event:
        return cls(
            type=EventType(fields["type"]),
            at=float(fields["at"]),
            data=json.loads(fields["data"]),
            id=entry_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type.value, "at": self.at, "data": self.data}
