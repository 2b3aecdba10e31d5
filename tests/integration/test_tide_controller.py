"""The tide controller on a real Redis: leader lock, the three modes, overrides, events."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from redis.asyncio import Redis

from hall.config import HallConfig, WindowKind
from hall.errors import IllegalTransition, NotFound
from hall.events import EventType
from tests.support import FakeClock
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import Channel, WindowStatus
from ticketing.store import TicketStore
from tide.controller import TideController
from tide.keys import TideKeys
from tide.policy import Action, Decision
from tide.service import TideService
from tide.settings import Mode, PolicyName, TideSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

# 2026-11-18 10:00 in the district hall (Asia/Shanghai): open, before the lunch closure.
OPEN_AT = 1_794_967_200.0
# No time-of-day pattern: the decisions depend on the queue alone.
SETTINGS = TideSettings(policy=PolicyName.PREDICTIVE, mode=Mode.AUTO, hourly_profile=(),
                        min_open_minutes=0, min_closed_minutes=0, lend=False)


def service_for(aredis: Redis, store: TicketStore, **changes: Any) -> TideService:
    return TideService(aredis, store, {h: SETTINGS.with_(**changes) for h in store.halls})


@pytest.fixture(autouse=True)
def hall_is_open(clock: FakeClock) -> None:
    clock.now = OPEN_AT


async def events(aredis: Redis, kind: EventType | None = None) -> list[dict[str, Any]]:
    out = []
    for _, fields in await aredis.xrange(HallKeys("district").events):
        f = {k.decode(): v.decode() for k, v in fields.items()}
        if kind is None or f["type"] == kind.value:
            out.append({"type": f["type"], **json.loads(f["data"])})
    return out


async def staff_base_windows(store: TicketStore) -> None:
    for number, clerk in ((1, "S02"), (2, "S03"), (3, "S04"), (4, "S05"), (5, "S13"),
                          (6, "S06"), (7, "S07")):
        await store.change_window("district", number,
                                  lambda w, now, c=clerk: model.login(w, c, now))


async def crowd(store: TicketStore, count: int = 40) -> None:
    for i in range(count):
        await store.issue("district", "SB-YLJ" if i % 2 else "QY-KB", Channel.KIOSK)


async def pensions_crowd_and_window_11(store: TicketStore) -> None:
    """The base windows and window 11 (housing fund, lendable) staffed; 30 wait for pensions."""
    await staff_base_windows(store)
    await store.change_window("district", 11, lambda w, now: model.login(w, "S11", now))
    for _ in range(30):
        await store.issue("district", "SB-YLJ", Channel.KIOSK)


async def test_one_leader_per_hall_and_takeover_after_expiry(
    aredis: Redis, store: TicketStore
) -> None:
    first = TideController(aredis, service_for(aredis, store), lock_ms=1000)
    second = TideController(aredis, service_for(aredis, store), lock_ms=1000)
    a, b = await first.step(), await second.step()
    assert a == {h: True for h in first.halls} and b == {h: False for h in first.halls}
    assert "district" in first.halls and "village" not in first.halls  # no tide windows
    assert await aredis.get(TideKeys("district").leader) == first.token.encode()
    taken = asyncio.get_running_loop().time()
    await asyncio.sleep(0.6)
    assert (await first.step())["district"]  # renewal keeps the lead past the first expiry
    renewed = asyncio.get_running_loop().time()
    await asyncio.sleep(max(0.0, taken + 1.2 - asyncio.get_running_loop().time()))
    assert not (await second.step())["district"] or \
        asyncio.get_running_loop().time() - renewed >= 1.0  # (only a stalled machine)
    # The leader dies without releasing: the other takes over once the lock expires
    # (Redis expires it on its own clock: poll, with a deadline).
    deadline = asyncio.get_running_loop().time() + 10
    while not (await second.step())["district"]:
        assert asyncio.get_running_loop().time() < deadline, "the lock never expired"
        await asyncio.sleep(0.05)
    assert not (await first.step())["district"]
    await second.stop()  # a clean stop hands the lock back at once
    assert (await first.step())["district"]


async def test_auto_mode_opens_the_tide_window_for_a_standby_clerk(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    await staff_base_windows(store)
    await crowd(store)
    service = service_for(aredis, store)
    decisions = await service.run_policy("district")
    assert [(d.action, d.window) for d in decisions] == [(Action.OPEN, 12)]
    window = await store.window("district", 12)
    assert window.status is WindowStatus.OPEN
    # S01 is rostered for window 12 and not logged in anywhere else.
    assert window.clerk == "S01" == decisions[0].clerk
    assert "standby clerk S01" in decisions[0].reason_en and "备岗" in decisions[0].reason_zh
    # One event carries the change: the window (as window.changed would) and the decision.
    assert all(e["window"]["number"] != 12 for e in await events(aredis,
                                                                 EventType.WINDOW_CHANGED))
    tide = await events(aredis, EventType.TIDE_DECISION)
    assert tide[-1]["window"]["number"] == 12 and tide[-1]["reason"] == "tide.open"
    assert tide[-1]["status"] == "applied"
    assert tide[-1]["message_zh"] == "12号潮汐窗口已开放"
    assert tide[-1]["notify_clerk"] == "S01"
    # The opened window takes tickets through the ordinary call-next.
    called = await store.call_next("district", 12)
    assert called is not None and called.queue in ("A", "B")
    # Nothing more to do on the next step: one window, one decision.
    assert await service.run_policy("district") == []
    assert (await service.state("district"))["recent"][0]["decision"]["window"] == 12


async def test_advise_mode_proposes_and_the_manager_confirms(
    aredis: Redis, store: TicketStore
) -> None:
    await staff_base_windows(store)
    await crowd(store)
    service = service_for(aredis, store, mode=Mode.ADVISE)
    await service.run_policy("district")
    await service.run_policy("district")  # the same proposal is not made twice
    assert (await store.window("district", 12)).status is WindowStatus.CLOSED
    proposed = await events(aredis, EventType.TIDE_DECISION)
    assert [e["status"] for e in proposed] == ["proposed"]
    state = await service.state("district")
    assert [p["id"] for p in state["pending"]] == ["12:open"]
    d = await service.confirm("district", "12:open", by="manager1")
    assert d.action is Action.OPEN
    assert (await store.window("district", 12)).status is WindowStatus.OPEN
    assert (await events(aredis, EventType.TIDE_DECISION))[-1]["status"] == "confirmed"
    with pytest.raises(NotFound):
        await service.confirm("district", "12:open", by="manager1")


async def test_off_mode_decides_nothing(aredis: Redis, store: TicketStore) -> None:
    await staff_base_windows(store)
    await crowd(store)
    service = service_for(aredis, store)
    await service.set_mode("district", Mode.OFF, by="manager1")
    before = len(await events(aredis))
    assert await service.run_policy("district") == []
    assert len(await events(aredis)) == before
    assert (await store.window("district", 12)).status is WindowStatus.CLOSED
    assert (await events(aredis, EventType.TIDE_OVERRIDE))[-1]["mode"] == "off"


async def test_override_holds_until_released(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    await staff_base_windows(store)
    service = service_for(aredis, store)
    # The hall is empty, so the policy would close an open tide window at once …
    await service.override("district", Decision(Action.OPEN, 12), by="manager1")
    window = await store.window("district", 12)
    assert window.status is WindowStatus.OPEN and window.clerk == "S01"
    for _ in range(3):
        clock.advance(60)
        assert await service.run_policy("district") == []
    assert (await store.window("district", 12)).status is WindowStatus.OPEN
    # … and does so once the manager releases the window.
    await service.release("district", 12, by="manager1")
    decisions = await service.run_policy("district")
    assert [(d.action, d.window) for d in decisions] == [(Action.CLOSE, 12)]
    assert (await store.window("district", 12)).status is WindowStatus.CLOSED
    kinds = [e["kind"] for e in await events(aredis, EventType.TIDE_OVERRIDE)]
    assert kinds == ["set", "released"]
    with pytest.raises(NotFound):
        await service.release("district", 12, by="manager1")


async def test_opening_an_open_window_is_refused_and_changes_nothing(
    aredis: Redis, store: TicketStore
) -> None:
    await staff_base_windows(store)
    service = service_for(aredis, store)
    before = len(await events(aredis))
    with pytest.raises(IllegalTransition):
        await service.override("district", Decision(Action.OPEN, 6, clerk="S15"), by="m")
    assert len(await events(aredis)) == before
    assert not await aredis.hgetall(TideKeys("district").overrides)


async def test_lending_and_return_change_the_queues_a_window_calls(
    aredis: Redis, store: TicketStore, halls: dict[str, HallConfig]
) -> None:
    await pensions_crowd_and_window_11(store)
    service = service_for(aredis, store, lend=True)
    decisions = await service.run_policy("district")
    lends = [d for d in decisions if d.action is Action.LEND]
    assert [(d.window, d.queues) for d in lends] == [(11, ("G", "B"))]
    assert (await store.window("district", 11)).queues_override == ("G", "B")
    called = await store.call_next("district", 11)
    assert called is not None and called.queue == "B"


async def test_a_window_lent_at_closing_time_goes_back_after_hours(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    # The hall closes with window 11 lent to pensions (B) and people still waiting there:
    # it stays lent while it serves them; once they are served and its clerk has gone
    # home, the live controller gives it back, with its event: tomorrow starts unlent.
    await pensions_crowd_and_window_11(store)
    service = service_for(aredis, store, lend=True)
    assert [d.action for d in await service.run_policy("district") if d.window == 11] == [
        Action.LEND]
    clock.now = OPEN_AT + 9 * 3600  # 19:00: the hall has closed, the queue is still there
    assert [d for d in await service.run_policy("district") if d.window == 11] == []
    while await store.call_next("district", 11) is not None:
        await store.start("district", 11)
        await store.finish("district", 11)
    await store.change_window("district", 11, lambda w, now: model.logout(w, now))
    [back] = [d for d in await service.run_policy("district") if d.window == 11]
    assert back.action is Action.RETURN
    window = await store.window("district", 11)
    assert window.queues_override is None and window.status is WindowStatus.CLOSED
    [returned] = [e for e in await events(aredis, EventType.TIDE_DECISION)
                  if e["reason"] == "tide.return"]
    assert returned["window"]["number"] == 11 and returned["status"] == "applied"
    assert returned["window"]["queues_override"] is None
    assert [d for d in await service.run_policy("district") if d.window == 11] == []


async def test_in_advise_mode_the_end_of_day_return_is_applied_not_proposed(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    # Nobody is there at night to confirm it: proposed, it would lapse every 10 minutes and
    # be proposed again until morning. It is applied, and says so in its event.
    await staff_base_windows(store)
    await store.change_window("district", 11, lambda w, now: model.login(w, "S11", now))
    await store.change_window("district", 11, lambda w, now: model.reassign(w, ("G", "B"), now))
    await store.change_window("district", 11, lambda w, now: model.logout(w, now))
    service = service_for(aredis, store, mode=Mode.ADVISE, lend=True)
    clock.now = OPEN_AT + 9 * 3600
    [back] = await service.run_policy("district")
    assert back.action is Action.RETURN and back.end_of_day
    assert (await store.window("district", 11)).queues_override is None
    assert (await service.state("district"))["pending"] == []
    [event] = await events(aredis, EventType.TIDE_DECISION)
    assert event["status"] == "applied" and event["reason"] == "tide.return"


async def test_concurrent_readers_count_each_arrival_once(
    aredis: Redis, store: TicketStore
) -> None:
    service = service_for(aredis, store)
    for _ in range(10):
        await store.issue("district", "QY-KB", Channel.KIOSK)
    loads = await asyncio.gather(*(service.load("district") for _ in range(4)))
    fresh = await service_for(aredis, store).load("district")
    for load in (*loads, await service.load("district")):
        assert load.queues["A"].waiting == 10
        assert load.queues["A"].arrivals_per_hour == pytest.approx(
            fresh.queues["A"].arrivals_per_hour) == pytest.approx(10 / 900 * 3600)


# ---- every tide change is one atomic step -------------------------------------------


class Died(Exception):
    """The process 'dies' after building a tide change, before committing it."""


class DyingService(TideService):
    async def _commit(self, txn: Any, kind: EventType, data: dict[str, Any]) -> None:
        raise Died()


async def hall_keys(aredis: Redis) -> dict[bytes, bytes | None]:
    return {k: await aredis.dump(k) for k in sorted(await aredis.keys("hall:{district}*"))}


async def _apply(s: TideService) -> Any:
    return await s.apply("district", Decision(Action.OPEN, 12, ("A", "B"), "S01"), "tide",
                         "applied")


async def _run(s: TideService) -> Any:
    return await s.run_policy("district")


async def _mode(s: TideService) -> Any:
    return await s.set_mode("district", Mode.ADVISE, by="m")


async def _propose(s: TideService) -> Any:
    return await s.propose("district", Decision(Action.OPEN, 12, ("A", "B"), "S01"))


async def _confirm(s: TideService) -> Any:
    return await s.confirm("district", "12:open", by="m")


async def _dismiss(s: TideService) -> Any:
    return await s.confirm("district", "12:open", by="m", accept=False)


async def _override(s: TideService) -> Any:
    return await s.override("district", Decision(Action.OPEN, 12), by="m")


async def _release(s: TideService) -> Any:
    return await s.release("district", 12, by="m")


@pytest.mark.parametrize("change", [_apply, _run, _mode, _propose, _confirm, _dismiss,
                                    _override, _release])
async def test_a_change_that_dies_before_its_commit_leaves_nothing(
    aredis: Redis, store: TicketStore, change: Any
) -> None:
    await staff_base_windows(store)
    await crowd(store)
    setup = service_for(aredis, store)
    if change in (_confirm, _dismiss):
        await _propose(setup)
    if change is _release:
        await setup.override("district", Decision(Action.OPEN, 12), by="m")
    before = await hall_keys(aredis)
    dying = DyingService(aredis, store, setup.settings)
    with pytest.raises(Died):
        await change(dying)
    assert await hall_keys(aredis) == before  # no window, toggle, proposal or event alone
    # The same change by a live process: the window, the toggle and the event together.
    await change(setup)
    after = await hall_keys(aredis)
    assert after != before
    tide_events = [e for e in await events(aredis) if e["type"].startswith("tide.")]
    window = await store.window("district", 12)
    memory = (await setup._read("district")).memory
    opened = [e for e in tide_events if e.get("window", {}) and isinstance(e["window"], dict)
              and e["window"]["number"] == 12 and e["window"]["status"] == "open"]
    if window.status is WindowStatus.OPEN:
        assert opened and memory.of(12).toggles == len(opened)


async def test_a_clerk_who_logs_in_elsewhere_meanwhile_is_never_at_two_windows(
    aredis: Redis, store: TicketStore
) -> None:
    for number, clerk in ((1, "S02"), (2, "S03"), (3, "S04"), (4, "S05")):
        await store.change_window("district", number,
                                  lambda w, now, c=clerk: model.login(w, c, now))
    service = service_for(aredis, store, mode=Mode.ADVISE)
    await service.propose("district", Decision(Action.OPEN, 12, ("A", "B"), "S01"))

    class Racing(TideService):
        """S01 logs in at window 5 between the confirm's read and its commit."""

        raced = False

        async def _commit(self, txn: Any, kind: EventType, data: dict[str, Any]) -> None:
            if not self.raced:
                self.raced = True
                await store.change_window("district", 5,
                                          lambda w, now: model.login(w, "S01", now))
            await super()._commit(txn, kind, data)

    racing = Racing(aredis, store, service.settings)
    d = await racing.confirm("district", "12:open", by="m")
    assert racing.raced and d.clerk != "S01"  # the commit lost, the retry re-checked
    window = await store.window("district", 12)
    assert window.status is WindowStatus.OPEN and window.clerk == d.clerk
    assert (await store.window("district", 5)).clerk == "S01"
    clerks = [w.clerk for w in await store.windows("district") if w.clerk]
    assert len(clerks) == len(set(clerks))
    confirmed = (await events(aredis, EventType.TIDE_DECISION))[-1]
    assert confirmed["status"] == "confirmed" and f"{d.clerk} instead" in \
        confirmed["decision"]["reason_en"]


async def test_confirming_a_proposal_that_no_longer_holds_withdraws_it(
    aredis: Redis, store: TicketStore
) -> None:
    await staff_base_windows(store)
    service = service_for(aredis, store, mode=Mode.ADVISE)
    await service.propose("district", Decision(Action.OPEN, 12, ("A", "B"), "S01"))
    # Every standby clerk of window 12 is now at a window.
    for number, clerk in ((8, "S01"), (9, "S12"), (10, "S14"), (11, "S15")):
        await store.change_window("district", number,
                                  lambda w, now, c=clerk: model.login(w, c, now))
    with pytest.raises(IllegalTransition) as err:
        await service.confirm("district", "12:open", by="m")
    assert err.value.code == "proposal_stale"
    assert (await store.window("district", 12)).status is WindowStatus.CLOSED
    assert (await service.state("district"))["pending"] == []
    assert (await events(aredis, EventType.TIDE_DECISION))[-1]["status"] == "withdrawn"


async def test_a_pending_proposal_does_not_stop_auto_mode(
    aredis: Redis, store: TicketStore
) -> None:
    await staff_base_windows(store)
    await crowd(store)
    service = service_for(aredis, store, mode=Mode.ADVISE)
    assert [d.action for d in await service.run_policy("district")] == [Action.OPEN]
    assert await service.run_policy("district") == []  # advise: waits for the manager
    # A proposal left over (e.g. written just before the mode changed) …
    await service.set_mode("district", Mode.AUTO, by="m")
    assert (await events(aredis, EventType.TIDE_OVERRIDE))[-1]["withdrawn"] == ["12:open"]
    await service.propose("district", Decision(Action.OPEN, 12, ("A", "B"), "S01"))
    # … does not hold auto mode back, and is dropped in the same step that opens.
    assert [(d.action, d.window) for d in await service.run_policy("district")] == [
        (Action.OPEN, 12)]
    assert (await store.window("district", 12)).status is WindowStatus.OPEN
    assert (await service.state("district"))["pending"] == []


async def test_the_panel_says_why_nothing_is_proposed(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    await staff_base_windows(store)
    service = service_for(aredis, store, mode=Mode.ADVISE)
    # A manager opens and closes window 12 by hand, and opens it once more …
    for action in (Action.OPEN, Action.CLOSE, Action.OPEN):
        await service.override("district", Decision(action, 12), by="manager1")
    state = await service.state("district")
    [w12] = [w for w in state["windows"] if w["number"] == 12]
    assert (w12["toggles_today"], w12["manual_toggles_today"], w12["override"]) == (3, 3, True)
    await service.override("district", Decision(Action.CLOSE, 12), by="manager1")
    await crowd(store)
    held = {h["window"]: h for h in (await service.state("district"))["held"]}
    assert held[12]["code"] == "override" and held[12]["action"] == "open"
    # … and releases it: the queue is long, but the day's budget went on the overrides.
    await service.release("district", 12, by="manager1")
    assert await service.run_policy("district") == []
    held = {h["window"]: h for h in (await service.state("district"))["held"]}
    assert held[12]["code"] == "budget"
    assert "4 of them by a manager" in held[12]["reason_en"] or \
        "toggled 4 times today, 4 of them by a manager" in held[12]["reason_en"]


@pytest.mark.parametrize("local", ["12:30", "08:30", "18:00"])
async def test_nothing_is_proposed_or_lent_while_the_hall_is_closed(
    aredis: Redis, store: TicketStore, clock: FakeClock, local: str
) -> None:
    await staff_base_windows(store)
    await store.change_window("district", 11, lambda w, now: model.login(w, "S11", now))
    await crowd(store, 60)
    service = service_for(aredis, store, mode=Mode.ADVISE, lend=True)
    h, m = local.split(":")
    clock.now = OPEN_AT + (int(h) - 10) * 3600 + int(m) * 60
    assert await service.run_policy("district") == []
    state = await service.state("district")
    assert state["open_now"] is False and state["pending"] == []
    assert {h["code"] for h in state["held"]} == {"closed_hours"}
    clock.now = OPEN_AT  # open again: the same queue gets its proposal
    assert Action.OPEN in [d.action for d in await service.run_policy("district")]


async def test_the_predictive_forecast_uses_the_halls_own_history(
    aredis: Redis, store: TicketStore, clock: FakeClock, halls: dict[str, HallConfig]
) -> None:
    service = service_for(aredis, store)
    cfg = halls["district"]
    assert (await service.settings_today(cfg, clock.now)).hourly_profile == ()  # no records
    # Three past Wednesdays: 4 tickets at 14:xx, 1 at 09:xx.
    for weeks in (1, 2, 3):
        for hour, minute in ((9, 0), (14, 0), (14, 10), (14, 20), (14, 40)):
            clock.now = OPEN_AT - weeks * 7 * 86400 + (hour - 10) * 3600 + minute * 60
            await store.issue("district", "QY-KB", Channel.KIOSK)
    clock.now = OPEN_AT
    fresh = service_for(aredis, store)  # the forecast is read once a day
    profile = (await fresh.settings_today(cfg, clock.now)).hourly_profile
    assert len(profile) == 24 and profile[14] == pytest.approx(4.0)
    assert profile[9] == pytest.approx(1.0) and sum(profile) == pytest.approx(5.0)


async def test_the_live_controller_and_the_simulator_path_decide_alike(
    aredis: Redis, store: TicketStore, clock: FakeClock, halls: dict[str, HallConfig]
) -> None:
    """Same inputs, same decisions: the live service (Redis, the event stream) and the pure
    path the simulator runs (ArrivalRates fed per arrival, measure, assess, apply_decision)
    step through one busy morning in auto mode."""
    from hall.calendar import local_day
    from tide.apply import apply_decision
    from tide.hours import local_hour, open_at
    from tide.load import ArrivalRates, measure
    from tide.policy import Memory, assess, remember

    cfg = halls["district"]
    settings = SETTINGS.with_(hourly_profile=parse_profile(cfg))
    service = TideService(aredis, store, {h: settings for h in store.halls})
    await staff_base_windows(store)
    rates = ArrivalRates([q.letter for q in cfg.queues], settings.smoothing_minutes)
    windows = {w.number: w for w in await store.windows("district")}
    waiting: dict[str, list[float]] = {q.letter: [] for q in cfg.queues}
    memory = Memory()
    live_seq, pure_seq = [], []
    for step in range(12):  # every 30 s, two tickets more
        for k in range(2):
            matter = "SB-YLJ" if (step + k) % 3 else "QY-KB"
            ticket, _ = await store.issue("district", matter, Channel.KIOSK)
            rates.observe(ticket.queue, clock.now)
            waiting[ticket.queue].append(ticket.enqueued_at)
        live_seq.append([(d.action, d.window, d.clerk)
                         for d in await service.run_policy("district")])
        load = measure(cfg, clock.now, windows.values(), waiting, rates.per_hour(clock.now),
                       {})
        decided = assess(cfg, settings, load, memory, local_hour(cfg, clock.now), {},
                         open_at(cfg, clock.now)).decisions
        for d in decided:
            windows[d.window] = apply_decision(cfg, windows, d, clock.now)
            memory = remember(memory, [d], clock.now, local_day(clock.now, cfg.tz))
        pure_seq.append([(d.action, d.window, d.clerk) for d in decided])
        clock.advance(30)
    assert live_seq == pure_seq
    assert any(live_seq)  # the morning did call for a change


def parse_profile(cfg: HallConfig) -> tuple[float, ...]:
    from tide.settings import parse_tide

    return parse_tide(cfg.tide).hourly_profile


async def test_a_hall_without_tide_or_lendable_windows_gets_no_lock_and_no_loop(
        aredis: Redis, store: TicketStore, clock: FakeClock) -> None:
    district = store.halls["district"]
    plain = dataclasses.replace(district, id="plain", windows=tuple(
        dataclasses.replace(w, lendable=False) for w in district.windows
        if w.kind is not WindowKind.TIDE))
    only_plain = TicketStore(aredis, {"plain": plain}, clock)
    controller = TideController(aredis, service_for(aredis, only_plain))
    assert await controller.step() == {}
    assert await aredis.get(TideKeys("plain").leader) is None
    controller.start()
    assert controller._task is None  # no background task for a hall the policy cannot act on
    both = TicketStore(aredis, {"plain": plain, "district": district}, clock)
    mixed = TideController(aredis, service_for(aredis, both))
    assert set(await mixed.step()) == {"district"}
    await mixed.stop()


class CountingReads(TideService):
    """The service as deployed, counting its reads of the tide state."""

    reads = 0

    async def _read(self, hall_id: str) -> Any:
        self.reads += 1
        return await super()._read(hall_id)


async def test_reads_kept_while_the_stream_is_unchanged_decide_as_fresh_ones(
    aredis: Redis, store: TicketStore, clock: FakeClock
) -> None:
    """The controller's path (the stream's newest id passed: a hall with no new entry is
    assessed on its last reads at the new time) decides the same morning, minute by
    minute, as fresh reads every time: time alone opens and closes windows here."""

    async def morning(kept: bool) -> tuple[list[tuple[int, str, int]], int]:
        await aredis.flushdb()
        clock.now = OPEN_AT
        service = CountingReads(aredis, store, {h: SETTINGS for h in store.halls})
        controller = TideController(aredis, service)
        await staff_base_windows(store)
        await crowd(store, 4)
        out = []
        for minute in range(60):
            if minute == 20:
                await crowd(store, 6)
            if minute == 30:
                await store.call_next("district", 1)
            last = (await controller.last_ids(["district"]))["district"] if kept else None
            out += [(minute, d.action.value, d.window)
                    for d in await service.run_policy("district", last)]
            clock.now += 60
        return out, service.reads

    fresh, fresh_reads = await morning(kept=False)
    kept, kept_reads = await morning(kept=True)
    assert kept == fresh
    assert {a for _, a, _ in fresh} >= {"open", "close"}  # decisions made by time alone too
    assert kept_reads < fresh_reads / 3, (kept_reads, fresh_reads)  # (each apply reads too)
