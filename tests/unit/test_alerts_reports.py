"""Alerts start at known moments; report percentiles and merges are exact."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np

from ticketing import alerts, reports
from ticketing.model import Channel, Step, Ticket, TicketStatus

NOW = 1_000_000.0


def test_alerts_start_when_their_condition_holds():
    queues = [alerts.QueueView("A", 2, NOW - 600), alerts.QueueView("B", 0, None)]
    windows = [
        alerts.WindowView(1, True, None, None, None, ("A",), NOW),      # idle, A waits
        alerts.WindowView(2, True, None, None, None, ("B",), NOW),      # idle, B empty
        alerts.WindowView(3, True, "A001", NOW - 60, 10.0, ("A",), NOW),
        alerts.WindowView(4, False, None, None, None, ("A",), NOW),     # closed
    ]
    bad = [alerts.BadRating("t1", "A009", "dissatisfied", 3, NOW - 30),
           alerts.BadRating("t2", "A002", "very_dissatisfied", 3, NOW - 7200)]
    found = {a.key: a for a in alerts.alerts(NOW, 15, queues, windows, bad)}
    assert set(found) == {"wait:A", "idle:1", "long:3:A001", "bad:t1"}
    assert found["wait:A"].since == NOW - 600 + 900
    assert found["long:3:A001"].since == NOW - 60 + 20 * 60
    active = {a.key for a in alerts.active(found.values(), NOW)}
    assert active == {"idle:1", "bad:t1"}
    later = {a.key for a in alerts.active(found.values(), NOW + 3600)}
    assert later == {"idle:1", "wait:A", "long:3:A001"}  # the bad rating alert has expired


def test_nearest_rank_and_merge_of_days():
    assert reports.nearest_rank(np.array([5, 1, 4, 2, 3], dtype=np.float32), 0.9) == 5.0
    assert reports.nearest_rank(np.array([], dtype=np.float32), 0.9) is None
    tz = ZoneInfo("Asia/Shanghai")

    def done(i: int, day_start: float, wait: float, service: float) -> Ticket:
        issued = day_start + 3600 * 10 + i
        return Ticket(id=f"t{i}", hall="h", day="d", queue="A", matter="M",
                      channel=Channel.KIOSK, issued_at=issued, enqueued_at=issued,
                      status=TicketStatus.DONE, window=1, clerk="S1",
                      serving_at=issued + wait, done_at=issued + wait + service,
                      history=(Step(issued, "issued"), Step(issued + wait, "called", 1, "S1")))

    days = []
    for d, waits in enumerate(([60, 120], [180, 240, 300])):
        start = 1_795_000_000.0 + d * 86400
        tickets = [done(i, start, w, 100 * (i + 1)) for i, w in enumerate(waits)]
        days.append(reports.aggregate_day(
            f"2026111{8 + d}", tickets, {"t0": "satisfied"}, now=start + 86400, tz=tz,
            issue_queue={"M": "A"}, rating_period_minutes=60, unrated_counts_as=None))
    total = reports.merge(days)["total"]
    assert (total["issued"], total["served"], total["rated"], total["unrated"]) == (5, 5, 2, 3)
    assert (total["wait_mean_s"], total["wait_p90_s"]) == (180.0, 300.0)
    assert (total["service_mean_s"], total["service_p90_s"]) == (180.0, 300.0)
