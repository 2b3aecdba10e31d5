"""Live tickets keep the wait quoted at issue; a day's quoted-vs-real accuracy is read back
from the records (tide.quotes), on a hand-worked morning."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from hall.calendar import local_day
from tests.support import FakeClock
from ticketing import model
from ticketing.estimate import QUOTE_FIELD
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.store import TicketStore
from tide.quotes import day_accuracy

pytestmark = pytest.mark.asyncio(loop_scope="session")
MIN = 60.0


async def test_issued_tickets_keep_their_quote_and_the_day_is_accounted(
        store: TicketStore, aredis: Redis, clock: FakeClock) -> None:
    cfg = store.hall("district")
    keys = HallKeys("district")
    # housing fund (queue G, window 11 only; expected 10 min a ticket)
    none, pos0 = await store.issue("district", "GJJ-TQ", Channel.KIOSK)
    assert pos0.estimated_wait_seconds is None  # no window open: a reason, no number
    assert await aredis.hget(keys.ticket(none.id), QUOTE_FIELD) == b""
    await store.cancel("district", none.id, None)

    await store.change_window("district", 11, lambda w, now: model.login(w, "S11", now),
                              "login")
    issued = [await store.issue("district", "GJJ-TQ", Channel.KIOSK) for _ in range(3)]
    quotes = [float(await aredis.hget(keys.ticket(t.id), QUOTE_FIELD)) for t, _ in issued]
    # the quote kept is the estimate shown; window 11 idle, 10 min a ticket: the first
    # is called at once (0), then (ahead - 1 idle + 1/2) × 10 min = 5 and 15 min
    assert quotes == [p.estimated_wait_seconds for _, p in issued] == [0.0, 300.0, 900.0]

    for _ in range(3):  # each served in 10 min: real waits 0, 10 and 20 min
        assert await store.call_next("district", 11) is not None
        clock.advance(MIN)
        await store.start("district", 11)
        clock.advance(9 * MIN)
        await store.finish("district", 11)
    acc = await day_accuracy(aredis, "district", local_day(clock(), cfg.tz))
    # the ticket quoted nothing (no window open) is left out; errors 0, 5, 5 min are all
    # within ±max(5 min, 25 %)
    assert (acc.tickets, acc.within, acc.median_error_min) == (3, 1.0, 5.0)
