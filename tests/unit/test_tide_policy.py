"""Tide settings, load and policies (pure): hysteresis, minimum open time, toggles, clerks."""

from __future__ import annotations

import math

import pytest

from hall.config import ConfigError, HallConfig
from ticketing.model import WindowState, WindowStatus
from tide.load import ArrivalRates, measure
from tide.policy import (
    Action,
    Memory,
    WindowMemory,
    decide,
    erlang_c_wait,
    forecast_growth,
    remember,
    standby_clerk,
)
from tide.settings import Mode, PolicyName, TideSettings, parse_tide

NOW = 1_795_000_000.0
BASE_CLERKS = {1: "S02", 2: "S03", 3: "S04", 4: "S05", 5: "S13", 6: "S06", 7: "S07",
               8: "S08", 9: "S09", 10: "S10", 11: "S11"}


@pytest.fixture
def district(halls: dict[str, HallConfig]) -> HallConfig:
    return halls["district"]


def windows(tide_open: bool = False, **extra: WindowState) -> list[WindowState]:
    out = [WindowState(n, WindowStatus.OPEN, clerk=c) for n, c in BASE_CLERKS.items()]
    out.append(WindowState(12, WindowStatus.OPEN, clerk="S01") if tide_open
               else WindowState(12))
    return out


def load_of(cfg: HallConfig, waiting_a: int, waiting_b: int = 0, tide_open: bool = False,
            per_hour: float = 0.0, now: float = NOW):
    waiting = {"A": [now - 60.0 * i for i in range(waiting_a)],
               "B": [now - 60.0 * i for i in range(waiting_b)]}
    rates = ArrivalRates([q.letter for q in cfg.queues], 15.0)
    for k in reversed(range(int(per_hour))):
        rates.observe("A", now - 3600.0 * k / per_hour)
    return measure(cfg, now, windows(tide_open), waiting, rates.per_hour(now), {})


THRESHOLD = TideSettings(policy=PolicyName.THRESHOLD, open_waiting=12, close_waiting=3,
                         open_wait_minutes=60, close_wait_minutes=5, min_open_minutes=30,
                         min_closed_minutes=20, max_toggles_per_day=4, lend=False)


def test_settings_parse_and_name_every_bad_field() -> None:
    s = parse_tide({"policy": "threshold", "mode": "auto", "open_waiting": 10,
                    "close_waiting": 2, "hourly_profile": [1] * 24})
    assert (s.policy, s.mode, s.open_waiting, len(s.hourly_profile)) == (
        PolicyName.THRESHOLD, Mode.AUTO, 10, 24)
    with pytest.raises(ConfigError) as err:
        parse_tide({"policy": "magic", "mode": "now", "open_waiting": -1, "lend": "yes",
                    "hourly_profile": [1, 2], "colour": "red"})
    for name in ("tide.policy", "tide.mode", "tide.open_waiting", "tide.lend",
                 "tide.hourly_profile", "tide.colour"):
        assert name in str(err.value)
    with pytest.raises(match="hysteresis"):
        parse_tide({"open_waiting": 5, "close_waiting": 5})


def test_load_shares_windows_and_predicts_a_newcomers_wait(district: HallConfig) -> None:
    load = load_of(district, waiting_a=20)
    a = load.queues["A"]
    assert a.waiting == 20 and a.longest_wait_seconds == pytest.approx(19 * 60)
    # Windows 1-5 serve A with the specialty queues (empty now), B and C: all their capacity
    # goes to A, the only queue with people waiting.
    assert a.servers == pytest.approx(5.0)
    assert a.predicted_wait_seconds == pytest.approx(20 * a.service_seconds / 5.0)
    assert load.queues["D"].servers == pytest.approx(1.0)
    rates = ArrivalRates(["A"], 15.0)
    for _ in range(10):
        rates.observe("A", NOW)
    assert rates.per_hour(NOW)["A"][0] == pytest.approx(40.0)
    # fed late or early, the same arrivals give the same rate later
    assert rates.per_hour(NOW + 900)["A"][0] == pytest.approx(40.0 / math.e)


def test_threshold_opens_with_a_standby_clerk_and_says_why(district: HallConfig) -> None:
    assert decide(district, THRESHOLD, load_of(district, 11), Memory(), 10.0) == []
    [d] = decide(district, THRESHOLD, load_of(district, 12), Memory(), 10.0)
    assert (d.action, d.window, d.clerk) == (Action.OPEN, 12, "S01")
    assert "12 waiting" in d.reason_en and "standby clerk S01" in d.reason_en
    assert "12人等候" in d.reason_zh and "12号潮汐窗口" in d.reason_zh


def test_no_standby_clerk_means_no_opening(district: HallConfig) -> None:
    load = load_of(district, 30)
    busy = frozenset(s.id for s in district.staff)
    assert standby_clerk(district, 12, busy) is None
    crowded = type(load)(load.at, load.queues, load.windows, busy)
    assert decide(district, THRESHOLD, crowded, Memory(), 10.0) == []


def test_hysteresis_and_minimum_open_time(district: HallConfig) -> None:
    opened = remember(Memory(), decide(district, THRESHOLD, load_of(district, 12), Memory(),
                                       10.0), NOW, "d1")
    # Between the limits nothing changes, open or closed.
    assert decide(district, THRESHOLD, load_of(district, 6, tide_open=True), opened, 10.0) == []
    # Below the closing limit, but open for less than 30 minutes: it stays.
    quiet = load_of(district, 2, tide_open=True, now=NOW + 29 * 60)
    assert decide(district, THRESHOLD, quiet, opened, 10.5) == []
    quiet = load_of(district, 2, tide_open=True, now=NOW + 31 * 60)
    [d] = decide(district, THRESHOLD, quiet, opened, 10.5)
    assert d.action is Action.CLOSE and "after its current ticket" in d.reason_en


def test_toggle_budget_leaves_room_to_close(district: HallConfig) -> None:
    memory = Memory("d1", {})
    for k in range(3):
        memory = remember(memory, decide(district, THRESHOLD.with_(min_open_minutes=0,
                                                                   min_closed_minutes=0),
                                         load_of(district, 12 if k % 2 == 0 else 0,
                                                 tide_open=k % 2 == 1, now=NOW + k),
                                         memory, 10.0),
                          NOW + k, "d1")
    assert memory.of(12).toggles == 3
    # A fourth toggle would be an opening that could not be closed again today.
    again = decide(district, THRESHOLD.with_(min_closed_minutes=0),
                   load_of(district, 30, now=NOW + 5), memory, 10.0)
    assert again == []
    # A new day starts a fresh budget.
    assert remember(memory, [], NOW, "d2").of(12).toggles == 0


def test_predictive_opens_ahead_of_a_forecast_peak(district: HallConfig) -> None:
    settings = TideSettings(policy=PolicyName.PREDICTIVE, lend=False, lag_minutes=20,
                            hourly_profile=(0,) * 9 + (1, 3, 3) + (0,) * 12)
    # Few waiting now; the arrival rate alone keeps the general windows busy
    # enough …
    load = load_of(district, 4, per_hour=20)
    assert decide(district, settings.with_(hourly_profile=()), load, Memory(), 9.5) == []
    # … but the profile says the next hour brings three times as many: open now.
    [d] = decide(district, settings, load, Memory(), 10.0)
    assert d.action is Action.OPEN and "capacity" in d.reason_en
    assert forecast_growth(settings.hourly_profile, 10.0, 1 / 3, 0.25) == pytest.approx(3.0)


def test_a_final_close_looks_to_the_end_of_the_day(district: HallConfig) -> None:
    # Quiet at 10:00, but the hall's pattern has a peak at 15-17 three times as busy.
    profile = (0,) * 9 + (1,) * 6 + (3, 3, 1) + (0,) * 6
    settings = TideSettings(policy=PolicyName.PREDICTIVE, lend=False, hourly_profile=profile)
    load = load_of(district, 0, tide_open=True, per_hour=12)

    def memory(toggles: int) -> Memory:
        return Memory("d", {12: WindowMemory(NOW - 7200.0, toggles)})

    # With an opening left in the budget, it closes now (it may open again for the peak) …
    [d] = decide(district, settings, load, memory(1), 10.0)
    assert d.action is Action.CLOSE
    # … but a close that spends the last toggle pair waits: the peak would need it.
    assert decide(district, settings, load, memory(3), 10.0) == []
    # Past the peak, the rest of the day is quiet: the final close is made.
    assert [d.action for d in decide(district, settings, load, memory(3), 17.1)] == [
        Action.CLOSE]


def test_off_decides_nothing(district: HallConfig) -> None:
    assert decide(district, TideSettings(policy=PolicyName.OFF), load_of(district, 99),
                  Memory(), 10.0) == []


def test_lending_a_quiet_lendable_window_and_taking_it_back(district: HallConfig) -> None:
    settings = THRESHOLD.with_(lend=True, open_wait_minutes=20, min_open_minutes=0,
                               min_closed_minutes=0)
    busy_b = load_of(district, 0, waiting_b=25)
    lend = [d for d in decide(district, settings, busy_b, Memory(), 10.0)
            if d.action is Action.LEND]
    assert [(d.window, d.queues) for d in lend] == [(11, ("G", "B"))]
    lent = [WindowState(11, WindowStatus.OPEN, clerk="S11", queues_override=("G", "B"))]
    eased = measure(district, NOW, [*windows()[:-2], *lent, WindowState(12)], {}, {}, {})
    assert eased.served_queues(district, 11) == ("G", "B")
    [back] = [d for d in decide(district, settings, eased, Memory(), 10.0)
              if d.action is Action.RETURN]
    assert back.window == 11 and "returns" in back.reason_en


def test_erlang_c_wait_is_infinite_when_overloaded() -> None:
    assert math.isinf(erlang_c_wait(2.0, 1.0, 2.0))
    assert erlang_c_wait(0.0, 1.0, 1.0) == 0.0


def test_a_clerk_without_a_window_list_may_stand_by_for_any_window(
    halls: dict[str, HallConfig]
) -> None:
    town = halls["town"]
    assert standby_clerk(town, 5, frozenset({"T01", "T02", "T03", "T04"})) == "T05"
    assert standby_clerk(town, 5, frozenset(s.id for s in town.staff)) is None


def test_the_wait_quantile_follows_the_erlang_c_tail() -> None:
    from tide.policy import erlang_c_quantile, erlang_c_wait

    lam, service, c = 0.8 / 60, 300.0, 5  # 4 erlangs on 5 windows
    mean = erlang_c_wait(lam, service, c)
    theta = c / service - lam
    p_wait = mean * theta  # mean = C / (cμ - λ)
    # P(W > t) = C e^(-θ t): the quantile where the tail is C/e lies at 1/θ
    assert erlang_c_quantile(lam, service, c, 1 - p_wait / math.e) == pytest.approx(1 / theta)
    assert erlang_c_quantile(lam, service, c, 0.9) > erlang_c_quantile(lam, service, c, 0.5)
    assert erlang_c_quantile(lam, service, c, 1 - p_wait) == 0.0  # most are not kept waiting
    assert erlang_c_quantile(0.0, service, c, 0.9) == 0.0
    assert erlang_c_quantile(lam, service, 3, 0.9) == math.inf  # overloaded


PREDICTIVE_LEND = TideSettings(policy=PolicyName.PREDICTIVE, lend=True, min_open_minutes=0,
                               min_closed_minutes=0)


def crowd(cfg: HallConfig, counts: dict[str, int], lent_to: str | None = None):
    """The district at 10:00 with ``counts`` waiting per queue (no recent arrivals), the
    tide window 12 open, window 11 serving G alone or lent to ``lent_to``."""
    wins = [WindowState(n, WindowStatus.OPEN, clerk=c) for n, c in BASE_CLERKS.items()
            if n != 11]
    wins += [WindowState(11, WindowStatus.OPEN, clerk="S11",
                         queues_override=None if lent_to is None else ("G", lent_to)),
             WindowState(12, WindowStatus.OPEN, clerk="S01")]
    waiting = {q: [NOW - 60.0 * i for i in range(n)] for q, n in counts.items()}
    return measure(cfg, NOW, wins, waiting, {}, {})


def test_a_lendable_window_goes_to_the_queue_lacking_the_most_windows(
    district: HallConfig
) -> None:
    # Tax (one window) has the longest predicted wait, but a handful of people; the general
    # queue, shared by six windows, lacks far more capacity to meet the 15-minute target.
    load = crowd(district, {"A": 40, "D": 8})
    a, d = load.queues["A"], load.queues["D"]
    assert d.predicted_wait_seconds > a.predicted_wait_seconds > 15 * 60
    [lend] = [x for x in decide(district, PREDICTIVE_LEND, load, Memory(), 10.0)
              if x.action is Action.LEND]
    assert (lend.window, lend.queues) == (11, ("G", "A"))
    # The threshold policy still lends to the longest predicted wait.
    threshold = THRESHOLD.with_(lend=True, open_wait_minutes=20)
    [lend] = [x for x in decide(district, threshold, load, Memory(), 10.0)
              if x.action is Action.LEND]
    assert lend.queues == ("G", "D")


def test_a_lent_window_moves_to_a_queue_that_clearly_needs_it_more(
    district: HallConfig
) -> None:
    # Lent to guidance (H) on its forecast; now the general queue is crowded and H is not.
    load = crowd(district, {"A": 40, "H": 1}, lent_to="H")
    lent = Memory("d", {11: WindowMemory(NOW - 3600.0, 1)})
    [move] = decide(district, PREDICTIVE_LEND, load, lent, 10.0)
    assert (move.action, move.window, move.queues) == (Action.LEND, 11, ("G", "A"))
    assert "moves to General matters" in move.reason_en
    # Not when the budget has no room for the move and the return after it …
    spent = Memory("d", {11: WindowMemory(NOW - 3600.0, 3)})
    assert decide(district, PREDICTIVE_LEND, load, spent, 10.0) == []
    # … nor towards a queue flagged by its forecast alone, with nobody waiting.
    quiet_a = crowd(district, {"H": 1}, lent_to="H")
    assert [x for x in decide(district, PREDICTIVE_LEND, quiet_a, lent, 10.0)
            if x.action is Action.LEND] == []


def test_a_lent_window_stays_lent_while_a_later_peak_needs_it(district: HallConfig) -> None:
    # Tax, lent window 11, has eased by 11:00 (1.2 arrivals an hour keep its own window a
    # fifth busy), but the hall's pattern brings three times as many at 15-17, more than
    # half of one window: giving window 11 back now would spend two more of the day's
    # toggles to lend it again then.
    settings = PREDICTIVE_LEND.with_(hourly_profile=(1,) * 15 + (3, 3, 1) + (0,) * 6)
    wins = [WindowState(n, WindowStatus.OPEN, clerk=c) for n, c in BASE_CLERKS.items()
            if n != 11]
    wins.append(WindowState(11, WindowStatus.OPEN, clerk="S11", queues_override=("G", "D")))
    load = measure(district, NOW, [*wins, WindowState(12)], {}, {"D": (1.2, 1.2)}, {})
    lent = Memory("d", {11: WindowMemory(NOW - 3600.0, 1)})
    assert [x for x in decide(district, settings, load, lent, 11.0) if x.window == 11] == []
    # After the peak the rest of the day is quiet: it goes back …
    [back] = [x for x in decide(district, settings, load, lent, 17.1) if x.window == 11]
    assert back.action is Action.RETURN and back.queues == ("G",)
    # … unless another queue it could move to (one toggle) would still need it.
    busy_a = measure(district, NOW, [*wins, WindowState(12)], {},
                     {"D": (1.2, 1.2), "A": (40.0, 40.0)}, {})
    assert [x for x in decide(district, settings, busy_a, lent, 17.1)
            if x.window == 11 and x.action is Action.RETURN] == []
    # The hall's day over (the controller runs on), it goes back: a day starts unlent.
    [back] = [x for x in decide(district, settings, busy_a, lent, 18.5, open_now=False)
              if x.window == 11]
    assert back.action is Action.RETURN


def test_after_the_halls_day_a_lent_window_goes_back_once_its_lent_queue_is_served(
        district: HallConfig) -> None:
    # No day pattern: tax (D) keeps a steady 6 arrivals an hour, so its forecast never eases
    # and window 11, lent to it, stays lent through the lunch break. After the hall's day it
    # goes back once nobody waits in tax any more (whatever its clerk did): the next day
    # starts with window 11 on its own queue.
    settings = PREDICTIVE_LEND.with_(hourly_profile=())
    wins = [WindowState(n, WindowStatus.OPEN, clerk=c) for n, c in BASE_CLERKS.items()
            if n != 11]

    def window_11(lent_status: WindowStatus, waiting_d: int, hour: float, open_now: bool):
        w11 = WindowState(11, lent_status, clerk="S11" if lent_status is not
                          WindowStatus.CLOSED else None, queues_override=("G", "D"))
        load = measure(district, NOW, [*wins, w11, WindowState(12)],
                       {"D": [NOW - 60.0 * i for i in range(waiting_d)]}, {"D": (6.0, 6.0)}, {})
        lent = Memory("d", {11: WindowMemory(NOW - 3600.0, 1)})
        return [x.action for x in decide(district, settings, load, lent, hour, open_now=open_now)
                if x.window == 11]

    assert window_11(WindowStatus.OPEN, 0, 12.5, open_now=False) == []  # lunch: stays lent
    assert window_11(WindowStatus.OPEN, 2, 17.6, open_now=False) == []  # serving the last
    assert window_11(WindowStatus.OPEN, 0, 17.6, open_now=False) == [Action.RETURN]
    assert window_11(WindowStatus.CLOSED, 0, 19.0, open_now=False) == [Action.RETURN]
    assert window_11(WindowStatus.CLOSED, 0, 8.5, open_now=False) == [Action.RETURN]
    assert window_11(WindowStatus.CLOSED, 0, 15.0, open_now=True) == []  # closed in the day


def test_the_last_lend_of_the_day_waits_for_people_waiting(district: HallConfig) -> None:
    # Tax's arrival rate alone forecasts a long wait on its one window, nobody waits yet.
    def tax(waiting: int):
        wait = {"D": [NOW - 60.0 * i for i in range(waiting)]}
        return measure(district, NOW, windows(), wait, {"D": (5.3, 5.3)}, {})

    def lends(memory: Memory, load) -> list[tuple[int, tuple[str, ...]]]:
        return [(d.window, d.queues) for d in decide(district, PREDICTIVE_LEND, load, memory,
                                                     10.0) if d.action is Action.LEND]

    fresh = Memory("d", {})
    once = Memory("d", {11: WindowMemory(NOW - 3600.0, 2)})  # lent and returned already
    assert lends(fresh, tax(0)) == [(11, ("G", "D"))]  # on the forecast, a move is left
    assert lends(once, tax(0)) == []  # the last lend: not on a forecast alone
    assert lends(once, tax(5)) == [(11, ("G", "D"))]


def test_a_final_close_does_not_count_on_a_lent_window(district: HallConfig) -> None:
    # The general queue gets 2.75 erlangs (17.9 arrivals an hour of 9.2 min) on a flat day:
    # on windows 1-5 and window 11 (lent to it) it stays under half busy without the tide
    # window, on windows 1-5 alone it does not. Window 11 goes back when tax fills.
    settings = PREDICTIVE_LEND.with_(hourly_profile=(1,) * 24)
    wins = [WindowState(n, WindowStatus.OPEN, clerk=c) for n, c in BASE_CLERKS.items()
            if n != 11]
    wins += [WindowState(11, WindowStatus.OPEN, clerk="S11", queues_override=("G", "A")),
             WindowState(12, WindowStatus.OPEN, clerk="S01")]
    load = measure(district, NOW, wins, {}, {"A": (17.9, 17.9)}, {})
    assert load.queues["A"].servers == pytest.approx(7.0)

    def tide(toggles: int) -> list[Action]:
        memory = Memory("d", {12: WindowMemory(NOW - 7200.0, toggles),
                              11: WindowMemory(NOW - 7200.0, 1)})
        return [d.action for d in decide(district, settings, load, memory, 10.0)
                if d.window == 12]

    assert tide(1) == [Action.CLOSE]  # it may open again if window 11 goes back
    assert tide(3) == []  # the final close would leave the general queue on five windows
