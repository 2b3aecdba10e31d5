"""Booking figures of a day, pure: what managers see per matter and per slot.

Per matter and per slot: ``capacity`` (bookable places), ``booked`` (places held: every
booking not cancelled or moved), and of those ``checked_in`` (on time), ``late`` (came
after the check-in window: served as walk-ins), ``no_show`` and ``open`` (not yet
checked in). Per matter also the day's tickets and the **walk-in share**: tickets not
issued by a check-in ÷ all tickets of the matter (a late booking counts as a walk-in, as
it is served as one). Rates are ``None`` where their denominator is 0:

    fill_rate     = booked ÷ capacity
    no_show_rate  = no_show ÷ (checked_in + late + no_show)   (bookings whose time is past)
    walk_in_share = walk-in tickets ÷ tickets
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hall.config import HallConfig
from ticketing.appointments import Booking
from ticketing.model import Ticket

STATUSES = ("open", "checked_in", "late", "no_show")
_AS = {"booked": "open", "checked_in": "checked_in", "late": "late", "no_show": "no_show"}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    settled = row["checked_in"] + row["late"] + row["no_show"]
    row["fill_rate"] = _ratio(row["booked"], row["capacity"])
    row["no_show_rate"] = _ratio(row["no_show"], settled)
    return row


def _counts(bookings: Iterable[Booking]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for b in bookings:
        if b.status in _AS:
            out[_AS[b.status]] += 1
    return out


def day_figures(cfg: HallConfig, slots: Mapping[str, Sequence[Mapping[str, Any]]],
                bookings: Sequence[Booking], tickets: Sequence[Ticket]
                ) -> dict[str, Any]:
    """``slots``: matter → its slots as ``AppointmentStore.slots`` lists them."""
    matters = []
    total: dict[str, Any] = {"capacity": 0, "booked": 0, "tickets": 0, "walk_ins": 0,
                             **dict.fromkeys(STATUSES, 0)}
    for m in cfg.matters:
        mine = [b for b in bookings if b.matter == m.code]
        rows = []
        for s in slots.get(m.code, ()):
            held = [b for b in mine if b.slot == s["slot"]]
            rows.append(_rates({"slot": s["slot"], "time": s["time"], "capacity": s["capacity"],
                                "booked": s["booked"], **_counts(held)}))
        its_tickets = [t for t in tickets if t.matter == m.code]
        walk_ins = sum(1 for t in its_tickets if not t.appointment)
        row = _rates({"matter": m.code, "name_zh": m.name_zh, "name_en": m.name_en,
                      "capacity": sum(r["capacity"] for r in rows),
                      "booked": sum(r["booked"] for r in rows), **_counts(mine),
                      "tickets": len(its_tickets), "walk_ins": walk_ins,
                      "walk_in_share": _ratio(walk_ins, len(its_tickets)), "slots": rows})
        for key in total:
            total[key] += row[key]
        matters.append(row)
    total["walk_in_share"] = _ratio(total["walk_ins"], total["tickets"])
    return {"matters": matters, "total": _rates(total)}
