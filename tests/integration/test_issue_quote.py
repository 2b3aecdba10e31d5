"""The wait quoted at issue is written by ``issue.lua`` in the issue's own step: the quote
kept on the record is the estimate the citizen is shown, one script trip per issue while the
hall's windows and service times stay as they were, and a plan made from other windows is
never used (the script answers with the state it read and the issue runs on that) but
by the last attempt, so an issue never fails because clerks keep changing windows."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.support import FakeClock
from ticketing import estimate, model
from ticketing.estimate import QUOTE_FIELD
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.records import window_from
from ticketing.store import TicketStore

pytestmark = pytest.mark.asyncio(loop_scope="session")
HALL = "district"


async def _calls(aredis: Redis) -> dict[str, int]:
    stats = await aredis.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
            for name in ("evalsha", "eval", "hsetnx")}


async def _expected(store: TicketStore, aredis: Redis, queue: str, ahead: int) -> float | None:
    """The estimate from the state in Redis now, read apart from the store."""
    cfg = store.hall(HALL)
    keys = HallKeys(HALL)
    recent = [float(x) for x in await aredis.lrange(keys.service_times(queue), 0,
                                                     estimate.RECENT_SERVICES - 1)]
    windows = [window_from(w.number, await aredis.hget(keys.window(w.number), "json"))
               for w in cfg.windows]
    return estimate.position(cfg, queue, ahead, recent, windows).estimated_wait_seconds


async def test_quote_written_with_the_ticket_in_one_trip(
        store: TicketStore, aredis: Redis, clock: FakeClock) -> None:
    keys = HallKeys(HALL)
    await store.change_window(HALL, 11, lambda w, now: model.login(w, "S11", now), "login")
    # a served ticket with an odd service time, so the quote is not a round number
    await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    await store.call_next(HALL, 11)
    await store.start(HALL, 11)
    clock.advance(437.3)
    await store.finish(HALL, 11)

    await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)  # makes the plan (windows changed)
    before = await _calls(aredis)
    issued = [await store.issue(HALL, "GJJ-TQ", Channel.KIOSK) for _ in range(5)]
    after = await _calls(aredis)
    # one script each, no separate write of the quote
    assert after["evalsha"] + after["eval"] - before["evalsha"] - before["eval"] == 5
    assert after["hsetnx"] == before["hsetnx"]
    for ticket, position in issued:
        wait = position.estimated_wait_seconds
        assert wait is not None and wait > 0
        assert wait == await _expected(store, aredis, "G", position.ahead)
        assert await aredis.hget(keys.ticket(ticket.id), QUOTE_FIELD) == f"{wait:.1f}".encode()
    assert [p.ahead for _, p in issued] == [1, 2, 3, 4, 5]


async def test_a_plan_from_other_windows_is_never_used(
        store: TicketStore, aredis: Redis, clock: FakeClock) -> None:
    keys = HallKeys(HALL)
    await store.change_window(HALL, 11, lambda w, now: model.login(w, "S11", now), "login")
    await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    _, idle = await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    # another process changes the window (its clerk pauses): this store's plan is stale
    other = TicketStore(aredis, {HALL: store.hall(HALL)}, clock)
    await other.change_window(HALL, 11, model.pause, "pause")
    ticket, paused = await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    assert paused.estimated_wait_seconds == await _expected(store, aredis, "G", paused.ahead)
    assert paused.estimated_wait_seconds != idle.estimated_wait_seconds
    assert await aredis.hget(keys.ticket(ticket.id), QUOTE_FIELD) == \
        f"{paused.estimated_wait_seconds:.1f}".encode()
    # the clerk logs out: nobody serves the queue, no estimate (a reason) and an empty quote
    await other.change_window(HALL, 11, model.logout, "logout")
    ticket, none = await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    assert (none.estimated_wait_seconds, none.reason) == (None, estimate.NO_WINDOW_OPEN)
    assert await aredis.hget(keys.ticket(ticket.id), QUOTE_FIELD) == b""


async def test_windows_changing_at_every_attempt_do_not_fail_the_issue(
        store: TicketStore, aredis: Redis, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy hall's clerks may change a window between every plan and its script: the
    last attempt issues on the plan it has (made one trip earlier), the quote stored
    still the one shown, instead of answering 503 ``busy``."""
    import ticketing.store

    keys = HallKeys(HALL)
    await store.change_window(HALL, 11, lambda w, now: model.login(w, "S11", now), "login")
    await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)  # the store has a plan
    other = TicketStore(aredis, {HALL: store.hall(HALL)}, clock)
    await other.change_window(HALL, 11, model.pause, "pause")  # … now a stale one
    monkeypatch.setattr(ticketing.store, "MAX_PLANS", 1)  # this attempt is the last
    ticket, shown = await store.issue(HALL, "GJJ-TQ", Channel.KIOSK)
    assert ticket.number == "G002"
    wait = shown.estimated_wait_seconds
    assert wait is not None
    assert await aredis.hget(keys.ticket(ticket.id), QUOTE_FIELD) == f"{wait:.1f}".encode()
