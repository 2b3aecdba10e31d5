"""Figures a hall can audit, from a known day on a real Redis under a FakeClock: a no-show
per missed call, abandoned only once the day has ended, and one meaning of "served" for
the window state and the reports (docs/ROUTING.md, "Figures")."""

from __future__ import annotations

from datetime import date

import pytest
from redis.asyncio import Redis

from tests.support import FakeClock
from ticketing import model
from ticketing.model import Channel
from ticketing.report_store import ReportStore
from ticketing.store import TicketStore

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = date(2026, 11, 18)  # the FakeClock's day (Asia/Shanghai)


async def open_window(store: TicketStore, number: int, clerk: str) -> None:
    await store.change_window("district", number, lambda w, now: model.login(w, clerk, now))


async def known_day(store: TicketStore, clock: FakeClock) -> dict[str, str]:
    """Five tickets of queue A; window 1 (S01) and window 6 (S06, social insurance, B)."""
    await open_window(store, 1, "S01")
    await open_window(store, 6, "S06")
    ids = {}
    for name in ("twice_missed", "missed_then_served", "transferred", "cancelled", "waiting"):
        ticket, _ = await store.issue("district", "QY-KB", Channel.KIOSK)
        ids[name] = ticket.id
        clock.advance(10)

    async def call(ticket_id: str) -> None:
        called = await store.call_number("district", 1, (await store.ticket(
            "district", ticket_id)).number)
        assert called.id == ticket_id
        clock.advance(30)

    # missed twice: called, missed, back once (the hall allows one re-join), missed again
    await call(ids["twice_missed"])
    await store.no_show("district", 1)
    await store.rejoin("district", ids["twice_missed"])
    await call(ids["twice_missed"])
    await store.no_show("district", 1)
    # missed once, back, then served at window 1
    await call(ids["missed_then_served"])
    await store.no_show("district", 1)
    await store.rejoin("district", ids["missed_then_served"])
    await call(ids["missed_then_served"])
    await store.start("district", 1)
    clock.advance(300)
    await store.finish("district", 1)
    # started at window 1, transferred to window 6 and finished there
    await call(ids["transferred"])
    await store.start("district", 1)
    await store.transfer("district", 1, queue=None, to_window=6, note="社保部分")
    assert (await store.call_next("district", 6)).id == ids["transferred"]  # type: ignore[union-attr]
    await store.start("district", 6)
    clock.advance(200)
    await store.finish("district", 6)
    await store.cancel("district", ids["cancelled"], by=None)
    return ids


async def test_known_day_figures_while_it_runs_and_once_it_is_over(
        store: TicketStore, aredis: Redis, clock: FakeClock) -> None:
    await known_day(store, clock)
    reports = ReportStore(aredis, store)
    live = await reports.report("district", DAY, DAY)
    total = live["total"]
    assert total["no_show"] == 3, "one per missed call, whatever became of the ticket"
    assert (total["issued"], total["served"], total["transferred"]) == (5, 2, 1)
    assert (total["cancelled"], total["abandoned"]) == (1, 1), "still waiting is not abandoned"
    by_window = live["by"]["window"]
    assert (by_window["1"]["no_show"], by_window["1"]["served"]) == (3, 1)
    assert (by_window["6"]["no_show"], by_window["6"]["served"]) == (0, 1)
    assert by_window["1"]["transferred"] == 1

    # one meaning of served: the window state counts what the report counts
    windows = {w.number: w for w in await store.windows("district")}
    assert windows[1].served_on("20261118") == by_window["1"]["served"] == 1
    assert windows[6].served_on("20261118") == by_window["6"]["served"] == 1
    state = await store.public_state("district")
    shown = {w["number"]: w["served"] for w in state["windows"]}
    assert (shown[1], shown[6]) == (1, 1)

    # the next day: the twice-missed and the waiting ticket ended their day unserved
    clock.advance(24 * 3600)
    over = (await reports.report("district", DAY, DAY))["total"]
    assert (over["abandoned"], over["no_show"], over["served"]) == (3, 3, 2)
    rolled = await reports.rollup("district", "20261118")
    assert rolled["groups"]["all"][""]["abandoned"] == 3
    # and a window shows what it served today, not yesterday's count
    state = await store.public_state("district")
    assert all(w["served"] == 0 for w in state["windows"])
