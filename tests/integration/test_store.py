"""The ticket store on a real Redis: numbering, call-next, re-join, transfer, events, estimates."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from hall.config import HallConfig
from hall.errors import IllegalTransition, Invalid, NotFound
from tests.support import FakeClock
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import (
    Channel,
    Ticket,
    TicketStatus,
    WindowStatus,
)
from ticketing.rules import pass_over_bound_minutes
from ticketing.store import TicketStore

# the async fixtures (aredis, store) live on the session loop; so must the tests
pytestmark = pytest.mark.asyncio(loop_scope="session")

SHANGHAI = ZoneInfo("Asia/Shanghai")
DISTRICT = HallKeys("district")
MIN = 60.0


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI).timestamp()


async def issue(store: TicketStore, matter: str = "QY-KB", **kw: Any) -> Ticket:
    ticket, _ = await store.issue("district", matter, Channel.KIOSK, **kw)
    return ticket


async def open_window(store: TicketStore, number: int, clerk: str, hall: str = "district"
                      ) -> None:
    await store.change_window(hall, number, lambda w, now: model.login(w, clerk, now), "login")


async def events(aredis: Redis, hall: str = "district") -> list[tuple[str, dict[str, Any]]]:
    raw = await aredis.xrange(HallKeys(hall).events)
    return [(f[b"type"].decode(), json.loads(f[b"data"])) for _, f in raw]


async def stream_len(aredis: Redis) -> int:
    return int(await aredis.xlen(DISTRICT.events))


async def state(aredis: Redis) -> dict[bytes, Any]:
    """Every key of the district hall with its value, to prove a refusal changed nothing."""
    out: dict[bytes, Any] = {}
    async for key in aredis.scan_iter(match="hall:{district}:*"):
        kind = await aredis.type(key)
        if kind == b"hash":
            out[key] = await aredis.hgetall(key)
        elif kind == b"zset":
            out[key] = await aredis.zrange(key, 0, -1, withscores=True)
        elif kind == b"list":
            out[key] = await aredis.lrange(key, 0, -1)
        elif kind == b"stream":
            out[key] = await aredis.xlen(key)
    return out


# ---- numbering ---------------------------------------------------------------------------


async def test_numbers_run_per_queue_and_per_hall(store: TicketStore) -> None:
    numbers = [(await issue(store, m)).number for m in ("QY-KB", "QY-BG", "SB-CB", "MZ-HY")]
    assert numbers == ["A001", "A002", "B001", "A003"]
    town, _ = await store.issue("town", "MZ-JZ", Channel.KIOSK)
    assert town.number == "A001"


async def test_tickets_issued_in_the_same_instant_keep_their_order(store: TicketStore) -> None:
    """Core fix: equal order keys used to be broken by the random ticket id."""
    issued = [await store.issue("district", "QY-KB", Channel.KIOSK) for _ in range(8)]
    assert [p.ahead for _, p in issued] == list(range(8))
    await open_window(store, 1, "S01")
    called = []
    for _ in range(8):
        t = await store.call_next("district", 1)
        assert t is not None
        called.append(t.number)
        await store.no_show("district", 1)
    assert called == [f"A{n:03d}" for n in range(1, 9)]


async def test_numbering_restarts_at_the_halls_local_midnight(
    store: TicketStore, clock: FakeClock
) -> None:
    clock.now = local(2026, 11, 18, 23, 59, 0)
    assert [(await issue(store)).number for _ in range(2)] == ["A001", "A002"]
    clock.advance(2 * MIN)  # 00:01 in Shanghai, still 16:01 UTC on the 18th
    fresh = await issue(store)
    assert fresh.number == "A001" and fresh.day == "20261119"
    assert (await store.ticket_by_number("district", "A001")).id == fresh.id
    with pytest.raises(NotFound):
        await store.ticket_by_number("district", "A002")  # yesterday's number


async def test_utc_midnight_does_not_restart_numbering(
    store: TicketStore, clock: FakeClock
) -> None:
    clock.now = local(2026, 11, 19, 7, 59, 59)  # 23:59:59 UTC on the 18th
    first = await issue(store)
    clock.advance(2)  # UTC midnight passes; Shanghai is still on the 19th
    second = await issue(store)
    assert (first.number, second.number) == ("A001", "A002")
    assert first.day == second.day == "20261119"


async def test_numbers_continue_after_a_restart(
    store: TicketStore, redis_url: str, halls: dict[str, HallConfig], clock: FakeClock
) -> None:
    assert [(await issue(store)).number for _ in range(2)] == ["A001", "A002"]
    client = Redis.from_url(redis_url)  # a new process: fresh connection, fresh store
    try:
        again = TicketStore(client, halls, clock)
        ticket, _ = await again.issue("district", "QY-KB", Channel.KIOSK)
        assert ticket.number == "A003"
    finally:
        await client.aclose()


async def test_unknown_hall_and_matter(store: TicketStore, aredis: Redis) -> None:
    with pytest.raises(NotFound) as err:
        await store.issue("atlantis", "QY-KB", Channel.KIOSK)
    assert err.value.code == "unknown_hall"
    with pytest.raises(NotFound) as err:
        await issue(store, "NOPE")
    assert err.value.code == "unknown_matter"
    with pytest.raises(Invalid):
        await issue(store, priority_group="vip")
    assert await stream_len(aredis) == 0


# ---- call-next through the store ---------------------------------------------------------


async def test_call_next_takes_the_oldest_then_none(store: TicketStore) -> None:
    await open_window(store, 1, "S01")
    a1, a2 = await issue(store), await issue(store)
    first = await store.call_next("district", 1)
    assert first is not None and first.id == a1.id and first.status is TicketStatus.CALLED
    await store.start("district", 1)
    await store.finish("district", 1)
    assert (await store.call_next("district", 1)).id == a2.id  # type: ignore[union-attr]
    await store.start("district", 1)
    await store.finish("district", 1)
    assert await store.call_next("district", 1) is None


async def test_green_channel_and_appointments_go_first_within_the_head_start(
    store: TicketStore, clock: FakeClock
) -> None:
    await open_window(store, 1, "S01")
    walk_in = await issue(store)
    clock.advance(20 * MIN)
    elderly = await issue(store, priority_group="elderly")
    clock.advance(5 * MIN)
    booked = await issue(store, appointment=True)
    clock.advance(40 * MIN)
    late_elderly = await issue(store, priority_group="elderly")  # 65 min after the walk-in
    called = []
    for _ in range(4):
        t = await store.call_next("district", 1)
        assert t is not None
        called.append(t.id)
        await store.no_show("district", 1)
    assert called == [elderly.id, booked.id, walk_in.id, late_elderly.id]


async def test_a_window_serves_its_queues_in_order(store: TicketStore, clock: FakeClock) -> None:
    # window 1 serves M (办不成事反映) then A, with a 10-minute step between them
    await open_window(store, 1, "S01")
    a_early = await issue(store, "QY-KB")
    clock.advance(5 * MIN)
    m = await issue(store, "TS-BBC")
    assert (await store.call_next("district", 1)).id == m.id  # type: ignore[union-attr]
    await store.no_show("district", 1)
    a_old = a_early
    clock.advance(15 * MIN)
    m2 = await issue(store, "TS-BBC")  # A's head has now waited 20 min longer than M's
    assert (await store.call_next("district", 1)).id == a_old.id  # type: ignore[union-attr]
    await store.no_show("district", 1)
    assert (await store.call_next("district", 1)).id == m2.id  # type: ignore[union-attr]


async def test_integrated_domains_reach_no_difference_windows_others_do_not(
    store: TicketStore,
) -> None:
    await open_window(store, 1, "S01")   # no-difference
    await open_window(store, 8, "S08")   # tax window
    social = await issue(store, "SB-CB")  # social insurance: integrated
    tax = await issue(store, "SW-SB")     # tax: not integrated
    assert await store.call_next("district", 8) is not None  # the tax ticket
    await store.no_show("district", 8)
    called = await store.call_next("district", 1)
    assert called is not None and called.id == social.id
    await store.no_show("district", 1)
    assert await store.call_next("district", 1) is None  # never the tax ticket
    assert (await store.ticket("district", tax.id)).window == 8


async def test_call_next_refused_at_a_closed_or_busy_window(
    store: TicketStore, aredis: Redis
) -> None:
    await issue(store)
    with pytest.raises(IllegalTransition) as err:
        await store.call_next("district", 2)
    assert err.value.code == "window_not_staffed"
    await open_window(store, 2, "S02")
    await store.call_next("district", 2)
    before = await state(aredis)
    await issue(store)
    before = await state(aredis)
    with pytest.raises(IllegalTransition) as err:
        await store.call_next("district", 2)
    assert err.value.code == "window_busy"
    assert await state(aredis) == before


# ---- call a given number ---------------------------------------------------------------


async def test_call_a_given_number_out_of_order(store: TicketStore, aredis: Redis) -> None:
    await open_window(store, 3, "S03")
    a1, _a2, a3 = [await issue(store) for _ in range(3)]
    picked = await store.call_number("district", 3, "A003")
    assert picked.id == a3.id and picked.window == 3
    await store.no_show("district", 3)
    assert (await store.call_next("district", 3)).id == a1.id  # type: ignore[union-attr]
    await store.no_show("district", 3)
    before = await state(aredis)
    with pytest.raises(IllegalTransition):
        await store.call_number("district", 3, "A003")  # a no-show, not waiting
    with pytest.raises(NotFound) as err:
        await store.call_number("district", 3, "A999")
    assert err.value.code == "unknown_ticket"
    with pytest.raises(NotFound) as err:
        await store.call_number("district", 99, "A002")
    assert err.value.code == "unknown_window"
    assert await state(aredis) == before


async def test_call_a_given_number_reaches_only_the_queues_the_window_serves(
        store: TicketStore, aredis: Redis) -> None:
    await open_window(store, 8, "S08")  # tax: queue D only
    await open_window(store, 1, "S01")
    a1 = await issue(store)
    before = await state(aredis)
    with pytest.raises(IllegalTransition) as err:
        await store.call_number("district", 8, a1.number)
    assert err.value.code == "not_served_here" and err.value.params["number"] == a1.number
    assert await state(aredis) == before
    # a ticket sent to window 8 is reachable there, and only there
    await store.call_next("district", 1)
    await store.transfer("district", 1, queue=None, to_window=8, note="")
    await open_window(store, 2, "S02")  # serves A, but the ticket waits for window 8
    with pytest.raises(IllegalTransition) as err:
        await store.call_number("district", 2, a1.number)
    assert err.value.code == "not_served_here"
    assert (await store.call_number("district", 8, a1.number)).window == 8
    # a window lent to D by the tide reaches D, and no longer A
    await store.change_window("district", 2, lambda w, now: model.reassign(w, ("D",), now))
    d1, a2 = await issue(store, "SW-SB"), await issue(store)
    with pytest.raises(IllegalTransition) as err:
        await store.call_number("district", 2, a2.number)
    assert err.value.code == "not_served_here"
    assert (await store.call_number("district", 2, d1.number)).id == d1.id


# ---- re-join -------------------------------------------------------------------------------


async def test_rejoin_goes_places_back_behind_the_head(store: TicketStore, clock: FakeClock
                                                       ) -> None:
    await open_window(store, 1, "S01")
    missed = await issue(store)
    others = []
    for _ in range(5):
        clock.advance(MIN)
        others.append(await issue(store))
    await store.call_next("district", 1)
    await store.no_show("district", 1)
    clock.advance(5 * MIN)
    back = await store.rejoin("district", missed.id)
    assert back.status is TicketStatus.WAITING and back.rejoins == 1
    position = await store.position("district", back)
    assert position is not None and position.ahead == 3  # the hall's rejoin_places_back
    order = []
    for _ in range(6):
        t = await store.call_next("district", 1)
        assert t is not None
        order.append(t.id)
        await store.no_show("district", 1)
    assert order == [*(t.id for t in others[:3]), missed.id, *(t.id for t in others[3:])]


async def test_rejoin_limits_change_nothing(store: TicketStore, clock: FakeClock, aredis: Redis
                                            ) -> None:
    await open_window(store, 1, "S01")
    t = await issue(store)
    with pytest.raises(IllegalTransition):
        await store.rejoin("district", t.id)  # still waiting
    await store.call_next("district", 1)
    await store.no_show("district", 1)
    clock.advance(31 * MIN)
    before = await state(aredis)
    with pytest.raises(IllegalTransition) as err:
        await store.rejoin("district", t.id)
    assert err.value.code == "rejoin_expired"
    assert await state(aredis) == before

    t2 = await issue(store)
    await store.call_next("district", 1)
    await store.no_show("district", 1)
    await store.rejoin("district", t2.id)
    await store.call_next("district", 1)
    await store.no_show("district", 1)
    before = await state(aredis)
    with pytest.raises(IllegalTransition) as err:
        await store.rejoin("district", t2.id)
    assert err.value.code == "rejoin_limit"
    assert await state(aredis) == before


# ---- transfer ------------------------------------------------------------------------------


async def test_transfer_to_a_queue_keeps_first_clerk_and_goes_ahead(
    store: TicketStore, clock: FakeClock
) -> None:
    await open_window(store, 1, "S01")
    await open_window(store, 8, "S08")
    t = await issue(store)
    tax_walk_in = await issue(store, "SW-SB")
    clock.advance(10 * MIN)
    await store.call_next("district", 1)
    await store.start("district", 1)
    moved = await store.transfer("district", 1, queue="D", to_window=None, note="需税务")
    assert moved.status is TicketStatus.WAITING and moved.queue == "D" and moved.transferred
    assert (await store.window("district", 1)).current is None
    called = await store.call_next("district", 8)
    assert called is not None and called.id == t.id  # a transfer does not queue twice
    assert called.first_clerk == "S01" and called.clerk == "S08"
    assert [s.action for s in called.history] == ["issued", "called", "serving", "transferred",
                                                  "called"]
    assert called.history[3].note == "需税务"
    await store.no_show("district", 8)
    assert (await store.call_next("district", 8)).id == tax_walk_in.id  # type: ignore[union-attr]


async def test_transfer_to_a_window_comes_before_everyone(store: TicketStore) -> None:
    await open_window(store, 2, "S02")
    await open_window(store, 3, "S03")
    t = await issue(store)
    await store.call_next("district", 2)
    for _ in range(3):
        await issue(store, priority_group="disabled")
    moved = await store.transfer("district", 2, queue=None, to_window=3, note="")
    assert moved.target_window == 3
    position = await store.position("district", moved)
    assert position is not None and position.ahead == 0
    called = await store.call_next("district", 3)
    assert called is not None and called.id == t.id and called.first_clerk == "S02"


async def test_bad_transfers_change_nothing(store: TicketStore, aredis: Redis) -> None:
    await open_window(store, 2, "S02")
    await issue(store)
    await store.call_next("district", 2)
    before = await state(aredis)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"queue": "Z", "to_window": None}, NotFound, "unknown_queue"),
        ({"queue": None, "to_window": 42}, NotFound, "unknown_window"),
        ({"queue": "A", "to_window": 3}, Invalid, "invalid_field"),
        ({"queue": None, "to_window": None}, Invalid, "invalid_field"),
        ({"queue": None, "to_window": 2}, Invalid, "same_window"),
        ({"queue": None, "to_window": 3}, IllegalTransition, "target_window_closed"),
    ]
    for kw, exc, code in cases:
        with pytest.raises(exc) as err:
            await store.transfer("district", 2, note="", **kw)
        assert err.value.code == code, kw  # type: ignore[attr-defined]
    with pytest.raises(IllegalTransition) as err2:
        await store.transfer("district", 3, queue="A", to_window=None, note="")
    assert err2.value.code == "no_current_ticket"
    assert await state(aredis) == before


# ---- the event stream --------------------------------------------------------------------


async def test_every_change_appends_its_event(store: TicketStore, aredis: Redis) -> None:
    await open_window(store, 1, "S01")
    await open_window(store, 8, "S08")
    t = await issue(store)
    await store.call_next("district", 1)
    await store.recall("district", 1)
    await store.start("district", 1)
    await store.transfer("district", 1, queue="D", to_window=None, note="")
    await store.call_next("district", 8)
    await store.no_show("district", 8)
    await store.rejoin("district", t.id)
    await store.cancel("district", t.id, by=None)
    u = await issue(store)
    await store.call_next("district", 1)
    await store.start("district", 1)
    await store.finish("district", 1)
    await store.change_window("district", 1, model.pause, "pause")
    await store.change_window("district", 1, model.resume, "resume")
    await store.change_window("district", 1, model.close, "close")
    got = await events(aredis)
    assert [e for e, _ in got] == [
        "window.changed", "window.changed", "ticket.issued", "ticket.called", "ticket.recalled",
        "ticket.serving", "ticket.transferred", "ticket.called", "ticket.no_show",
        "ticket.rejoined", "ticket.cancelled", "ticket.issued", "ticket.called",
        "ticket.serving", "ticket.done", "window.changed", "window.changed", "window.changed",
    ]
    statuses = [d["ticket"]["status"] for e, d in got if e.startswith("ticket.")]
    assert statuses == ["waiting", "called", "called", "serving", "waiting", "called", "no_show",
                        "waiting", "cancelled", "waiting", "called", "serving", "done"]
    assert got[-1][1]["window"]["status"] == "closed"
    assert got[-3][1]["window"]["status"] == "paused"
    assert {d["ticket"]["id"] for e, d in got if e.startswith("ticket.")} == {t.id, u.id}
    assert got[3][1]["window"]["current"] == t.id  # a call carries the window too


async def test_refused_changes_append_no_event(store: TicketStore, aredis: Redis) -> None:
    await open_window(store, 1, "S01")
    t = await issue(store)
    before = await state(aredis)
    refusals = [
        store.start("district", 1),                      # nothing called yet
        store.finish("district", 1),
        store.recall("district", 1),
        store.no_show("district", 1),
        store.rejoin("district", t.id),                  # not a no-show
        store.call_next("district", 5),                  # nobody at window 5
        store.change_window("district", 1, model.resume),  # not paused
        store.change_window("district", 5, model.close),   # already closed
        store.change_window("district", 1, lambda w, now: model.login(w, "S02", now)),
        store.ticket("district", "no-such-ticket"),
        store.cancel("district", "no-such-ticket", None),
    ]
    for refusal in refusals:
        with pytest.raises((IllegalTransition, NotFound)):
            await refusal
    assert await state(aredis) == before
    called = await store.call_next("district", 1)
    assert called is not None
    before = await state(aredis)
    for refusal in [store.cancel("district", t.id, None),  # called, too late to cancel
                    store.finish("district", 1),           # not serving yet
                    store.change_window("district", 1, model.pause),  # busy
                    store.change_window("district", 1, model.logout)]:
        with pytest.raises(IllegalTransition):
            await refusal
    assert await state(aredis) == before


async def test_closing_a_busy_window_closes_after_its_ticket(store: TicketStore) -> None:
    await open_window(store, 4, "S04")
    await issue(store)
    await issue(store)
    await store.call_next("district", 4)
    closing = await store.change_window("district", 4, model.close, "close")
    assert closing.status is WindowStatus.CLOSING
    with pytest.raises(IllegalTransition):
        await store.call_next("district", 4)
    await store.start("district", 4)
    await store.finish("district", 4)
    after = await store.window("district", 4)
    assert (after.status, after.clerk, after.current, after.served) == (
        WindowStatus.CLOSED, None, None, 1)


# ---- position and estimated wait --------------------------------------------------------


async def test_position_and_estimate_follow_open_windows_and_service_times(
    store: TicketStore, clock: FakeClock, halls: dict[str, HallConfig]
) -> None:
    cfg = halls["district"]
    expected = [m.expected_minutes for m in cfg.matters if m.queue == "G"]
    prior = sum(expected) / len(expected) * MIN  # housing fund: one matter, 10 min
    tickets = [(await store.issue("district", "GJJ-TQ", Channel.KIOSK)) for _ in range(4)]
    last, position = tickets[-1]
    assert position.ahead == 3
    # no window open for this queue: a reason, never a number of minutes
    assert position.estimated_wait_seconds is None and position.reason == "no_window_open"
    await open_window(store, 1, "S01")  # a window of other queues changes nothing
    assert (await store.position("district", last)).reason == "no_window_open"  # type: ignore[union-attr]

    await open_window(store, 11, "S11")
    await store.call_next("district", 11)
    clock.advance(30)
    await store.start("district", 11)
    clock.advance(120)  # served in 2 minutes
    await store.finish("district", 11)
    now_pos = await store.position("district", last)
    assert now_pos is not None and now_pos.ahead == 2
    blended = (prior + 120) / 2
    # window 11 is idle: it calls the first one ahead at once, then the second one's
    # service (half done on average, ticketing.estimate) stands before this ticket
    assert now_pos.estimated_wait_seconds == pytest.approx(1.5 * blended)

    # paused, the only housing-fund window still has its clerk: it counts
    await store.change_window("district", 11, model.pause, "pause")
    paused = await store.position("district", last)
    assert paused is not None and paused.estimated_wait_seconds == pytest.approx(2 * blended)
    # logged out: no window open for this now
    await store.change_window("district", 11, model.resume, "resume")
    await store.change_window("district", 11, model.logout, "logout")
    gone = await store.position("district", last)
    assert gone is not None and gone.reason == "no_window_open"
    assert gone.estimated_wait_seconds is None and gone.ahead == 2
    # a window lent to the queue by the tide serves it
    await store.change_window("district", 1, lambda w, now: model.reassign(w, ("G",), now))
    lent = await store.position("district", last)
    assert lent is not None and lent.reason is None
    assert lent.estimated_wait_seconds == pytest.approx(1.5 * blended)  # idle, lent to G only


async def test_more_open_windows_shorten_the_estimate(store: TicketStore) -> None:
    for _ in range(6):
        last, _ = await store.issue("district", "SB-CB", Channel.KIOSK)
    await open_window(store, 6, "S06")
    alone = await store.position("district", last)
    for n, clerk in [(1, "S01"), (2, "S02")]:
        await open_window(store, n, clerk)
    shared = await store.position("district", last)
    assert alone is not None and shared is not None and shared.ahead == alone.ahead == 5
    assert alone.estimated_wait_seconds is not None
    # idle windows: 6 (B first: a whole window) and 1, 2 (B further down their lists: half
    # a window each) = 2 windows of capacity; the idle three call the first three ahead
    service = alone.estimated_wait_seconds / (5 - 1 + 0.5)
    assert shared.estimated_wait_seconds == pytest.approx((5 - 3 + 0.5) * service / 2)


async def test_no_position_once_called(store: TicketStore) -> None:
    await open_window(store, 1, "S01")
    t = await issue(store)
    called = await store.call_next("district", 1)
    assert called is not None and await store.position("district", called) is None
    assert (await store.ticket("district", t.id)).status is TicketStatus.CALLED


# ---- the no-starvation bound, through the store ------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_bound_holds_on_the_real_store(
    store: TicketStore, clock: FakeClock, aredis: Redis, halls: dict[str, HallConfig], seed: int
) -> None:
    rng = random.Random(seed)
    cfg = halls["district"]
    r = cfg.rules
    await open_window(store, 1, "S01")   # M, A, B, C: n = 4
    await open_window(store, 6, "S06")   # B only
    matters = ["TS-BBC", "QY-KB", "QY-KB", "SB-CB", "YB-BX"]
    groups = [None] * 6 + ["elderly", "pregnant"]
    checked = 0
    for _ in range(150):
        clock.advance(rng.expovariate(1 / 40.0))
        if rng.random() < 0.75:
            await issue(store, rng.choice(matters), priority_group=rng.choice(groups))
        if rng.random() < 0.6:
            number = rng.choice([1, 6])
            served = cfg.window_queues(number)
            waiting: dict[str, float] = {}
            for q in served:
                for tid in await aredis.zrange(DISTRICT.queue(q), 0, -1):
                    t = await store.ticket("district", tid.decode())
                    waiting[t.id] = t.enqueued_at
            called = await store.call_next("district", number)
            if called is None:
                continue
            bound = pass_over_bound_minutes(len(served), r.priority_head_start_minutes,
                                            r.queue_step_minutes) * MIN
            for tid, joined in waiting.items():
                if tid != called.id:
                    checked += 1
                    assert called.enqueued_at <= joined + bound + 1e-3
            await store.start("district", number)
            await store.finish("district", number)
    assert checked > 100
