"""Quoted against real waits on a live day: the wait each ticket was quoted at issue (kept
on its record by ``ticketing.store.TicketStore.issue``, field ``estimate.QUOTE_FIELD``)
beside the wait until its first call, for tickets served at that call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from redis.asyncio import Redis

from hall.text import as_str
from ticketing.estimate import QUOTE_FIELD
from ticketing.keys import HallKeys
from ticketing.model import Ticket
from tide.report import EstimateAccuracy, accuracy_of


def quoted_pairs(tickets: Iterable[Ticket], quotes: Mapping[str, float]
                 ) -> list[tuple[float, float]]:
    """(quoted, real) waits in minutes of the tickets served at their first call: real =
    first call − issue. No-shows at that call, tickets not yet called and tickets issued
    with no estimate (no window open: a reason was shown) are left out."""
    out: list[tuple[float, float]] = []
    for t in tickets:
        quoted = quotes.get(t.id)
        if quoted is None:
            continue
        steps = [s for s in t.history if s.action in ("called", "serving", "no_show")]
        if len(steps) < 2 or steps[0].action != "called" or steps[1].action != "serving":
            continue
        out.append((quoted / 60.0, (steps[0].at - t.issued_at) / 60.0))
    return out


async def day_accuracy(redis: Redis, hall_id: str, day: str) -> EstimateAccuracy:
    """A day's quoted-vs-real accuracy from the hall's ticket records (``day``: YYYYMMDD)."""
    keys = HallKeys(hall_id)
    ids = [as_str(i) for i in await redis.zrange(keys.day_tickets(day), 0, -1)]
    if not ids:
        return accuracy_of([])
    async with redis.pipeline(transaction=False) as pipe:
        for i in ids:
            pipe.hmget(keys.ticket(i), ["json", QUOTE_FIELD])
        rows = await pipe.execute()
    tickets: list[Ticket] = []
    quotes: dict[str, float] = {}
    for i, (raw, quote) in zip(ids, rows, strict=True):
        if raw is None:
            continue
        tickets.append(Ticket.from_dict(json.loads(raw)))
        if quote not in (None, b"", ""):
            quotes[i] = float(as_str(quote))
    return accuracy_of(quoted_pairs(tickets, quotes))
