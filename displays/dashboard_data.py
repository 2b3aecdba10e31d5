"""What the manager's dashboard shows, read from Redis: live state, today's curves, the city.

Nothing is kept in this process: each call reads the hall's keys and runs the pure
rules (``ticketing.alerts``, ``ticketing.reports``, the tide load measure), so any
number of app processes give the same answer.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Protocol

from hall.calendar import local_day
from hall.config import HallConfig
from hall.errors import NotFound
from hall.services import Key
from hall.streams import per_key
from ticketing import alerts as alert_rules
from ticketing import reports
from ticketing.keys import HallKeys
from ticketing.model import Ticket, TicketStatus, WindowStatus
from ticketing.rating_store import RatingStore
from ticketing.ratings import CaseStatus, rates
from ticketing.report_store import ReportStore
from ticketing.store import TicketStore

QUARTERS = 96
HIST_BUCKET_MINUTES = 5
HIST_BUCKETS = 12  # 0–5, 5–10, … 55–60, and the last bucket holds everything longer
WINDOW_FIGURES = ("served", "service_mean_s")  # today's figures per window
CHANNEL_FIGURES = ("issued", "served", "wait_mean_s", "wait_p90_s")  # per channel


def _staff(cfg: HallConfig, clerk: str | None) -> tuple[str | None, str | None]:
    staff = cfg.staff_member(clerk) if clerk else None
    return (staff.name if staff else clerk), (staff.staff_number if staff else None)


class LoadSource(Protocol):
    """Where the dashboard reads a hall's load (the tide service; wired by ``hall.app``)."""

    async def load(self, hall_id: str) -> Any: ...


LOAD: Key[LoadSource] = Key("displays.load")


async def live(store: TicketStore, tide: LoadSource, cfg: HallConfig) -> dict[str, Any]:
    """Queues, windows, alerts (current and upcoming) and open cases of one hall."""
    now = store.clock()
    load = await tide.load(cfg.id)
    windows = await store.windows(cfg.id)
    current: dict[str, Ticket] = {}
    for w in windows:
        if w.current:
            with contextlib.suppress(NotFound):
                current[w.current] = await store.ticket(cfg.id, w.current)
    queue_rows, queue_views = [], []
    for q in cfg.queues:
        ql = load.queues.get(q.letter)
        waiting = ql.waiting if ql else 0
        longest = ql.longest_wait_seconds if ql else 0.0
        queue_rows.append({
            "letter": q.letter, "name_zh": q.name_zh, "name_en": q.name_en, "waiting": waiting,
            "longest_wait_minutes": round(longest / 60, 1),
            "predicted_wait_minutes": round((ql.predicted_wait_seconds if ql else 0) / 60, 1)})
        queue_views.append(alert_rules.QueueView(q.letter, waiting,
                                                 now - longest if waiting else None))
    window_rows, window_views = [], []
    for w in windows:
        wcfg = cfg.window(w.number)
        ticket = current.get(w.current or "")
        matter = cfg.matter(ticket.matter) if ticket else None
        name, number = _staff(cfg, w.clerk)
        served = tuple(load.served_queues(cfg, w.number))
        window_rows.append({
            "number": w.number, "name_zh": wcfg.name_zh if wcfg else "",
            "name_en": wcfg.name_en if wcfg else "", "kind": wcfg.kind.value if wcfg else "",
            "status": w.status.value, "clerk": w.clerk, "clerk_name": name,
            "clerk_staff_number": number, "queues": list(served),
            "current_number": ticket.number if ticket else None,
            "current_status": ticket.status.value if ticket else None,
            "current_since": (ticket.serving_at or ticket.called_at) if ticket else None})
        window_views.append(alert_rules.WindowView(
            number=w.number, open=w.status is WindowStatus.OPEN and w.clerk is not None,
            current_number=ticket.number if ticket else None,
            serving_since=ticket.serving_at if ticket and ticket.status is TicketStatus.SERVING
            else None,
            expected_minutes=matter.expected_minutes if matter else None,
            queues=served, idle_since=now))
    ratings = RatingStore(store)
    recent = await ratings.ratings_between(cfg.id, now - alert_rules.BAD_RATING_MINUTES * 60, now)
    bad = [alert_rules.BadRating(r.ticket, r.number, r.level.value, r.window, r.at)
           for r in recent if r.level.is_bad]
    found = alert_rules.alerts(now, cfg.rules.wait_target_minutes, queue_views, window_views, bad)
    cases = await ratings.cases(cfg.id)
    unclosed = [c for c in cases if c.closed_at is None]
    return {
        "hall": cfg.id, "now": now, "wait_target_minutes": cfg.rules.wait_target_minutes,
        "queues": queue_rows, "windows": window_rows,
        "alerts": [a.to_dict() for a in found],
        "cases": {
            "open": sum(1 for c in unclosed if c.status(now) is CaseStatus.OPEN),
            "overdue": sum(1 for c in unclosed if c.status(now) is CaseStatus.OVERDUE),
            "closed": len(cases) - len(unclosed),
            "items": [{"ticket": c.ticket, "number": c.rating.number, "level": c.rating.level.value,
                       "comment": c.rating.comment, "window": c.rating.window,
                       "clerk_name": _staff(cfg, c.rating.clerk)[0],
                       "first_clerk_name": _staff(cfg, c.rating.first_clerk)[0],
                       "first_window": c.rating.first_window, "deadline": c.deadline,
                       "reasonable": c.reasonable, "rectification": c.rectification,
                       "reply": c.reply, "status": c.status(now).value}
                      for c in sorted(unclosed, key=lambda c: c.deadline)][:50],
        },
    }


def waiting_curve(tickets: list[Ticket], day_start: float) -> list[int]:
    """People waiting at the end of each quarter hour of the day (issued, not yet called/gone)."""
    points = [day_start + (i + 1) * 900 for i in range(QUARTERS)]
    curve = [0] * QUARTERS
    for t in tickets:
        first_call = next((s.at for s in t.history if s.action == "called"), None)
        gone = first_call
        if gone is None and t.status is TicketStatus.CANCELLED:
            gone = t.history[-1].at if t.history else t.issued_at
        for i, p in enumerate(points):
            if t.issued_at <= p and (gone is None or gone > p):
                curve[i] += 1
    return curve


async def today(store: TicketStore, cfg: HallConfig) -> dict[str, Any]:
    """Today's curves and figures: arrivals vs served per 15 min, waiting people, wait spread."""
    now = store.clock()
    day = local_day(now, cfg.tz)
    report_store = ReportStore(store.redis, store)
    tickets, levels = await report_store.day_tickets(cfg.id, day)
    agg = reports.aggregate_day(
        day, tickets, levels, now=now, tz=cfg.tz,
        issue_queue={m.code: m.queue for m in cfg.matters},
        rating_period_minutes=cfg.rules.rating_period_minutes,
        unrated_counts_as=cfg.rules.unrated_counts_as)
    merged = reports.merge([agg])
    waits = sorted(reports.unpack(agg["groups"]["all"][""]["waits"])) if tickets else []
    hist = [0] * HIST_BUCKETS
    for w in waits:
        hist[min(int(w // (HIST_BUCKET_MINUTES * 60)), HIST_BUCKETS - 1)] += 1
    day_start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=cfg.tz).timestamp()
    cases = await RatingStore(store).cases(cfg.id, day_start, day_start + 86400)
    total = merged["total"]
    return {
        "hall": cfg.id, "day": day, "now": now, "total": total,
        "windows": {k: {f: v[f] for f in WINDOW_FIGURES}
                    for k, v in merged["by"]["window"].items()},
        "quarters": agg["quarters"], "waiting": waiting_curve(tickets, day_start),
        "wait_histogram": {"bucket_minutes": HIST_BUCKET_MINUTES, "counts": hist},
        "rates": rates(total["served"], total["rated"], cases).to_dict(),
        # waits of booked (checked-in) vs walk-in citizens (the reports' channel dimension)
        "channels": {k: {f: v.get(f) for f in CHANNEL_FIGURES}
                     for k, v in merged["by"].get("channel", {}).items()},
    }


async def city(store: TicketStore, halls: list[HallConfig]) -> list[dict[str, Any]]:
    """Every given hall with its load: waiting, open and busy windows, cases, tickets today."""
    now = store.clock()
    rows = []
    for cfg in halls:
        snap = await store.snapshot(cfg.id)
        day = local_day(now, cfg.tz)
        issued = await store.redis.hvals(HallKeys(cfg.id).day_counters(day))
        cases = await RatingStore(store).cases(cfg.id)
        unclosed = [c for c in cases if c.closed_at is None]
        windows = snap["windows"]
        rows.append({
            "id": cfg.id, "name_zh": cfg.name_zh, "name_en": cfg.name_en,
            "level": cfg.level.value, "waiting": sum(snap["waiting"].values()),
            "windows": len(windows),
            "open_windows": sum(1 for w in windows if w["status"] == "open" and w["clerk"]),
            "busy_windows": sum(1 for w in windows if w.get("current")),
            "issued_today": sum(int(x) for x in issued),
            "open_cases": sum(1 for c in unclosed if c.status(now) is CaseStatus.OPEN),
            "overdue_cases": sum(1 for c in unclosed if c.status(now) is CaseStatus.OVERDUE),
        })
    return rows


async def region_totals(store: TicketStore, halls: list[HallConfig]) -> dict[str, Any]:
    """Per city (``HallConfig.region``; "" for halls of their own files): halls, people
    waiting and tickets issued today, over every given hall. Two script calls per 1,000
    keys (``hall.streams.per_key``), so a province's 20,000 halls sum up in ~50 calls."""
    now = store.clock()
    queues = [HallKeys(c.id).queue(q.letter) for c in halls for q in c.queues]
    waiting = iter(await per_key(store.redis, "ZCARD", queues))
    issued = await per_key(store.redis, "HVALS", [
        HallKeys(c.id).day_counters(local_day(now, c.tz)) for c in halls])
    out: dict[str, dict[str, int]] = {}
    for cfg, counters in zip(halls, issued, strict=True):
        row = out.setdefault(cfg.region, {"halls": 0, "waiting": 0, "issued_today": 0})
        row["halls"] += 1
        row["waiting"] += sum(int(next(waiting)) for _ in cfg.queues)
        row["issued_today"] += sum(int(x) for x in counters or [])
    return dict(sorted(out.items()))
