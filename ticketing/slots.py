"""Bookable slots, pure: the slot grid of a day and each slot's bookable capacity.

A day's slots tile its opening periods (``slot_minutes`` each; a remainder shorter than a
slot at the end of a period is not bookable). A slot's capacity for a matter is what the
windows serving it can handle in the slot, minus the share kept for walk-ins:

    capacity = floor(W × slot_minutes ÷ expected_minutes × (1 − walk_in_share))

where W counts the matter's windows in *window-equivalents*: each window that serves the
matter's queue (tide windows excepted: they are closed normally) gives its time equally
to the queues it serves, and a queue's time is shared equally by its matters. So the
bookings of all matters together never take more than (1 − walk_in_share) of the
windows' time, and walk-ins always keep their share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hall.calendar import HallCalendar
from hall.config import HallConfig, WindowKind


@dataclass(frozen=True)
class SlotTime:
    """One slot of a day: its label (HHMM, local) and its start and end in POSIX seconds."""

    label: str
    start: float
    end: float


def window_equivalents(cfg: HallConfig, matter_code: str) -> float:
    matter = cfg.matter(matter_code)
    if matter is None:
        return 0.0
    share = 0.0
    for number in cfg.windows_serving(matter.queue):
        window = cfg.window(number)
        if window is None or window.kind is WindowKind.TIDE:
            continue
        share += 1.0 / max(1, len(cfg.window_queues(number)))
    matters_in_queue = sum(1 for m in cfg.matters if m.queue == matter.queue)
    return share / max(1, matters_in_queue)


def slot_capacity(cfg: HallConfig, matter_code: str, slot_minutes: int,
                  walk_in_share: float) -> int:
    matter = cfg.matter(matter_code)
    if matter is None:
        return 0
    per_slot = window_equivalents(cfg, matter_code) * slot_minutes / matter.expected_minutes
    return max(0, math.floor(per_slot * (1.0 - walk_in_share) + 1e-9))


def day_slots(cal: HallCalendar, day: date, slot_minutes: int) -> list[SlotTime]:
    out: list[SlotTime] = []
    step = timedelta(minutes=slot_minutes)
    for period in cal.periods_on(day):
        start = datetime.combine(day, period.start, cal.tz)
        end = datetime.combine(day, period.end, cal.tz)
        while start + step <= end:
            out.append(SlotTime(start.strftime("%H%M"), start.timestamp(),
                                (start + step).timestamp()))
            start += step
    return out


def find_slot(cal: HallCalendar, day: date, slot_minutes: int, label: str) -> SlotTime | None:
    return next((s for s in day_slots(cal, day, slot_minutes) if s.label == label), None)
