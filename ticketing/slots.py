"""Bookable slots, pure: the slot grid of a day and each slot's bookable capacity.

A day's slots tile its opening periods (``slot_minutes`` each; a remainder shorter than a
slot at the end of a period is not bookable). A slot's capacity for a matter is what the
windows serving it can handle in the slot, minus the share kept for walk-ins:

    per slot = W × slot_minutes ÷ expected_minutes × (1 − walk_in_share)

and slot i of the day gets floor((i+1) × per slot) − floor(i × per slot) places, so a
matter with 0.4 bookable places per slot still gets one every two or three slots and the
day's total is the floor of its exact share.

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
    """One slot of a day: its label (HHMM, local), start and end (POSIX seconds), index."""

    label: str
    start: float
    end: float
    index: int = 0


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


def per_slot(cfg: HallConfig, matter_code: str, slot_minutes: int,
             walk_in_share: float) -> float:
    """Bookable places per slot of a matter, as a fraction (see module doc)."""
    matter = cfg.matter(matter_code)
    if matter is None:
        return 0.0
    share = window_equivalents(cfg, matter_code) * slot_minutes / matter.expected_minutes
    return max(0.0, share * (1.0 - walk_in_share))


def slot_capacity(cfg: HallConfig, matter_code: str, slot_minutes: int, walk_in_share: float,
                  index: int = 0) -> int:
    """Places of the ``index``-th slot of the day (0-based)."""
    exact = per_slot(cfg, matter_code, slot_minutes, walk_in_share)
    return math.floor((index + 1) * exact + 1e-9) - math.floor(index * exact + 1e-9)


def day_slots(cal: HallCalendar, day: date, slot_minutes: int) -> list[SlotTime]:
    out: list[SlotTime] = []
    step = timedelta(minutes=slot_minutes)
    for period in cal.periods_on(day):
        start = datetime.combine(day, period.start, cal.tz)
        end = datetime.combine(day, period.end, cal.tz)
        while start + step <= end:
            out.append(SlotTime(start.strftime("%H%M"), start.timestamp(),
                                (start + step).timestamp(), len(out)))
            start += step
    return out


def find_slot(cal: HallCalendar, day: date, slot_minutes: int, label: str) -> SlotTime | None:
    return next((s for s in day_slots(cal, day, slot_minutes) if s.label == label), None)
