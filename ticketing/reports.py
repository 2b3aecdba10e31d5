"""Reports, pure: a day of tickets folds into a daily aggregate; aggregates merge into a report.

A daily aggregate is a JSON-ready mapping kept for good (ticket records expire):

    {"day": "20261118", "hours": {"arrivals": [24], "served": [24]},
     "quarters": {"arrivals": [96], "served": [96]},
     "groups": {"all": {"": G}, "matter": {code: G}, "queue": {letter: G},
                "window": {"5": G}, "clerk": {staff_id: G},
                "channel": {"appointment" | "walk_in": G}}}

and each group G holds counts plus every wait and service time of the group as a
packed float32 array (base64), so merged means and percentiles are exact
(to float32, well under 0.1 s):

    issued, served, no_show, transferred, cancelled, abandoned, unrated, defaulted,
    ratings {level: n}, waits "<b64>", services "<b64>"

Which group a ticket counts in: matter and queue (the queue it was issued into)
for everything; the window and clerk of its first call for its wait; the window
and clerk that finished it for served, service time and rating; the window and clerk
of each missed call for ``no_show``; the window and clerk that transferred it for
``transferred``.

Definitions a hall can audit (docs/ROUTING.md, "Figures"):

* ``served``: the ticket was finished (``ticket.done``); the window state's ``served``
  counts the same thing. A transfer or a no-show is not a service.
* ``no_show``: one per missed call (过号), whatever became of the ticket afterwards:
  a ticket that missed its call twice, re-joined and was then served counts two
  no-shows and one service.
* ``abandoned``: the ticket ended its day unserved: cancelled, or, once the day is
  over, still waiting, missed or never finished. A ticket still waiting today is not
  abandoned (it may yet be served).

Wait = first call − issue; service = done − start of service. A finished
ticket not rated within the hall's rating period is ``unrated``, or counts as
基本满意 (``defaulted``) when the hall sets ``rules.unrated_counts_as``.
P90 is the nearest-rank percentile.
"""

from __future__ import annotations

import base64
import math
from array import array
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from ticketing.model import Ticket, TicketStatus

COUNTS = ("issued", "served", "no_show", "transferred", "cancelled", "abandoned",
          "unrated", "defaulted")
# channel: "appointment" (a checked-in booking) or "walk_in": waits of booked vs walk-in
DIMENSIONS = ("matter", "queue", "window", "clerk", "channel")
LEVELS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied",
          "very_dissatisfied")
Group = dict[str, Any]


def _new_group() -> Group:
    g: Group = dict.fromkeys(COUNTS, 0)
    g["ratings"] = dict.fromkeys(LEVELS, 0)
    g["_waits"] = array("f")
    g["_services"] = array("f")
    return g


def _pack(values: array[float]) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack(text: str) -> npt.NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


def day_end(day: str, tz: ZoneInfo) -> float:
    """The POSIX time of the local midnight that ends ``day`` (yyyymmdd)."""
    start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=tz)
    return datetime.combine(start.date() + timedelta(days=1), datetime.min.time(),
                            tz).timestamp()


def _first_call(ticket: Ticket) -> tuple[float, int | None, str | None] | None:
    step = next((s for s in ticket.history if s.action == "called"), None)
    return (step.at, step.window, step.clerk) if step else None


def aggregate_day(
    day: str, tickets: Iterable[Ticket], ratings: Mapping[str, str], *, now: float, tz: ZoneInfo,
    issue_queue: Mapping[str, str], rating_period_minutes: float,
    unrated_counts_as: str | None,
) -> dict[str, Any]:
    """Fold one day's tickets (and their ratings: ticket id → level) into a daily aggregate.

    ``now`` at or after the day's end (local midnight) makes it a finished day: tickets
    left unserved then count as ``abandoned``.
    """
    day_over = now >= day_end(day, tz)
    groups: dict[str, dict[str, Group]] = {d: {} for d in ("all", *DIMENSIONS)}
    hours = {"arrivals": [0] * 24, "served": [0] * 24}
    quarters = {"arrivals": [0] * 96, "served": [0] * 96}

    def at(dim: str, key: object) -> Group | None:
        if key is None:
            return None
        return groups[dim].setdefault(str(key), _new_group())

    def bump(targets: Iterable[Group | None], name: str, by: int = 1) -> None:
        for g in targets:
            if g is not None:
                g[name] += by

    for t in tickets:
        base = [at("all", ""), at("matter", t.matter), at("queue", issue_queue.get(t.matter,
                                                                                   t.queue)),
                at("channel", "appointment" if t.appointment else "walk_in")]
        where = [at("window", t.window), at("clerk", t.clerk)]
        bump(base, "issued")
        local = datetime.fromtimestamp(t.issued_at, tz)
        hours["arrivals"][local.hour] += 1
        quarters["arrivals"][local.hour * 4 + local.minute // 15] += 1
        first = _first_call(t)
        if first is not None:
            for g in [*base, at("window", first[1]), at("clerk", first[2])]:
                if g is not None:
                    g["_waits"].append(first[0] - t.issued_at)
        for step in t.history:
            if step.action == "transferred":
                bump([at("window", step.window), at("clerk", step.clerk)], "transferred")
        if t.transferred:
            bump(base, "transferred")
        for step in t.history:
            if step.action == "no_show":
                bump([*base, at("window", step.window), at("clerk", step.clerk)], "no_show")
        if t.status is TicketStatus.DONE:
            bump([*base, *where], "served")
            if t.done_at is not None:
                done = datetime.fromtimestamp(t.done_at, tz)
                hours["served"][done.hour] += 1
                quarters["served"][done.hour * 4 + done.minute // 15] += 1
                if t.serving_at is not None:
                    for g in [*base, *where]:
                        if g is not None:
                            g["_services"].append(t.done_at - t.serving_at)
            level = ratings.get(t.id)
            if level is None and t.done_at is not None and \
                    now - t.done_at > rating_period_minutes * 60 and unrated_counts_as:
                bump([*base, *where], "defaulted")
                level = unrated_counts_as
            if level is None:
                bump([*base, *where], "unrated")
            else:
                for g in [*base, *where]:
                    if g is not None:
                        g["ratings"][level] += 1
        elif t.status is TicketStatus.CANCELLED:
            bump(base, "cancelled")
            bump(base, "abandoned")
        elif day_over:  # waiting, missed, called or serving when the day ended: unserved
            bump(base, "abandoned")

    out_groups: dict[str, dict[str, Group]] = {}
    for dim, by_key in groups.items():
        out_groups[dim] = {}
        for key, g in by_key.items():
            stored = {k: v for k, v in g.items() if not k.startswith("_")}
            stored["waits"] = _pack(g["_waits"])
            stored["services"] = _pack(g["_services"])
            out_groups[dim][key] = stored
    return {"day": day, "hours": hours, "quarters": quarters, "groups": out_groups}


Values = npt.NDArray[np.float32]


def nearest_rank(values: Values, q: float) -> float | None:
    """The nearest-rank ``q`` percentile (a selection, not a full sort)."""
    n = len(values)
    if not n:
        return None
    k = max(0, math.ceil(q * n) - 1)
    return float(np.partition(values, k)[k])


def _summary(counts: dict[str, int], ratings: dict[str, int], waits: list[Values],
             services: list[Values]) -> dict[str, Any]:
    w = np.concatenate(waits) if waits else np.empty(0, np.float32)
    s = np.concatenate(services) if services else np.empty(0, np.float32)
    rated = sum(ratings.values()) - counts["defaulted"]
    return {
        **counts,
        "wait_mean_s": round(float(w.mean(dtype=np.float64)), 1) if len(w) else None,
        "wait_p90_s": round(nearest_rank(w, 0.9) or 0.0, 1) if len(w) else None,
        "service_mean_s": round(float(s.mean(dtype=np.float64)), 1) if len(s) else None,
        "service_p90_s": round(nearest_rank(s, 0.9) or 0.0, 1) if len(s) else None,
        "ratings": ratings,
        "rated": rated,
        "rating_rate": round(rated / counts["served"], 4) if counts["served"] else None,
    }


def merge(aggregates: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge daily aggregates into report figures per dimension, plus hours and daily totals."""
    acc: dict[str, dict[str, tuple[dict[str, int], dict[str, int], list[Values],
                                   list[Values]]]] = {d: {} for d in ("all", *DIMENSIONS)}
    hours = {"arrivals": [0] * 24, "served": [0] * 24}
    daily: list[dict[str, Any]] = []
    for agg in aggregates:
        for name in hours:
            hours[name] = [a + b for a, b in zip(hours[name], agg["hours"][name], strict=True)]
        total = agg["groups"]["all"].get("", {})
        daily.append({"day": agg["day"], "issued": total.get("issued", 0),
                      "served": total.get("served", 0)})
        for dim, by_key in agg["groups"].items():
            for key, g in by_key.items():
                counts, ratings, waits, services = acc[dim].setdefault(
                    key, (dict.fromkeys(COUNTS, 0), dict.fromkeys(LEVELS, 0), [], []))
                for c in COUNTS:
                    counts[c] += g.get(c, 0)
                for level, n in g["ratings"].items():
                    ratings[level] += n
                waits.append(unpack(g["waits"]))
                services.append(unpack(g["services"]))
    figures = {dim: {key: _summary(*parts) for key, parts in by_key.items()}
               for dim, by_key in acc.items()}
    total = figures["all"].get("") or _summary(dict.fromkeys(COUNTS, 0),
                                               dict.fromkeys(LEVELS, 0), [], [])
    peaks = sorted(range(24), key=lambda h: (-hours["arrivals"][h], h))[:3]
    return {
        "total": total,
        "by": {dim: figures[dim] for dim in DIMENSIONS},
        "hours": hours,
        "peak_hours": [{"hour": h, "arrivals": hours["arrivals"][h]} for h in peaks
                       if hours["arrivals"][h]],
        "daily": daily,
    }


CSV_COLUMNS = ("dimension", "key", "name", *COUNTS, "wait_mean_s", "wait_p90_s",
               "service_mean_s", "service_p90_s", *LEVELS, "rated", "rating_rate")


def csv_rows(report: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> list[list[Any]]:
    """The report as CSV rows (header first): the hall total, then one row per group."""
    rows: list[list[Any]] = [list(CSV_COLUMNS)]

    def row(dim: str, key: str, fig: Mapping[str, Any]) -> list[Any]:
        values = [fig[c] if c in fig else fig["ratings"].get(c) for c in CSV_COLUMNS[3:]]
        return [dim, key, names.get(dim, {}).get(key, key),
                *("" if v is None else v for v in values)]

    rows.append(row("hall", "", report["total"]))
    for dim in DIMENSIONS:
        for key in sorted(report["by"][dim], key=_sort_key):
            rows.append(row(dim, key, report["by"][dim][key]))
    return rows


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)
