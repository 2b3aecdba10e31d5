"""Routing and call-next selection, the no-starvation bound, re-join places, estimated wait."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from ticketing import rules
from ticketing.booking_rules import checkin_order_key
from ticketing.estimate import RECENT_SERVICES, estimated_wait_seconds, mean_service_seconds
from ticketing.rules import DIRECT, Head, order_key, pass_over_bound_minutes, select_next

H = 30.0  # priority head start, minutes (the district hall's value)
STEP = 10.0  # queue step, minutes
MIN = 60.0


def head(queue: str, joined_min: float, priority: bool = False, tid: str = "") -> Head:
    return Head(queue, tid or f"{queue}@{joined_min}", order_key(joined_min * MIN, priority, H))


# ---- order keys and the window's queue order ------------------------------------------


def test_order_key_gives_priority_a_head_start() -> None:
    assert order_key(1000.0, False, H) == 1000.0
    assert order_key(1000.0, True, H) == 1000.0 - H * MIN


def test_a_window_serves_its_first_queue_first_when_heads_joined_together() -> None:
    heads = {"M": head("M", 0), "A": head("A", 0)}
    assert select_next(["M", "A"], heads, STEP).queue == "M"
    assert select_next(["A", "M"], heads, STEP).queue == "A"


def test_a_later_queue_wins_once_its_head_waited_a_step_longer() -> None:
    # window 1 of the district hall serves M then A; A's head joined 11 min earlier
    heads = {"M": head("M", 11), "A": head("A", 0)}
    assert select_next(["M", "A"], heads, STEP).queue == "A"
    # only 9 min earlier: still the first queue
    heads = {"M": head("M", 9), "A": head("A", 0)}
    assert select_next(["M", "A"], heads, STEP).queue == "M"


def test_exact_tie_goes_to_the_earlier_queue() -> None:
    heads = {"M": head("M", 10), "A": head("A", 0)}
    assert select_next(["M", "A"], heads, STEP).queue == "M"


def test_empty_queues_and_queues_the_window_does_not_serve_are_ignored() -> None:
    assert select_next(["M", "A"], {}, STEP) is None
    assert select_next(["M", "A"], {"D": head("D", -100)}, STEP) is None
    assert select_next(["M", "A"], {"A": head("A", 5)}, STEP).queue == "A"


def test_green_channel_goes_first_within_reach() -> None:
    # an elderly citizen who arrived 25 min after the head of the same queue goes first
    assert select_next(["A"], {"A": head("A", 25, priority=True)}, STEP).ticket_id == "A@25"
    heads = {"M": head("M", 0), "A": head("A", 25, priority=True)}
    assert select_next(["M", "A"], heads, STEP).queue == "M"  # 25 - 30 + 10 = 5 > 0
    heads = {"M": head("M", 0), "A": head("A", 15, priority=True)}
    assert select_next(["M", "A"], heads, STEP).queue == "A"  # 15 - 30 + 10 = -5 < 0
    # ... but not past somebody who has waited longer than the head start
    heads = {"A": head("A", 0), "M": head("M", 31, priority=True)}
    assert select_next(["A", "M"], heads, STEP).queue == "A"


def test_tickets_transferred_to_the_window_come_first() -> None:
    heads = {"M": head("M", 0, priority=True), "A": head("A", -60),
             DIRECT: head(DIRECT, 100, priority=True, tid="moved")}
    assert select_next(["M", "A"], heads, STEP).ticket_id == "moved"


def test_bound_formula() -> None:
    assert pass_over_bound_minutes(1, H, STEP) == 30
    # district no-difference windows serve two queues (a specialty, then A)
    assert pass_over_bound_minutes(2, H, STEP) == 40
    assert pass_over_bound_minutes(4, H, STEP) == 60
    assert pass_over_bound_minutes(0, H, STEP) == 30


# ---- the no-starvation bound, property style -------------------------------------------


@dataclass
class Sim:
    """Random arrivals into a few queues, windows calling by select_next."""

    rng: random.Random
    queues: dict[str, list[tuple[float, str, float]]]  # letter -> [(key, id, joined)] sorted

    def arrive(self, now: float, letter: str, priority: bool, tid: str) -> None:
        self.queues[letter].append((order_key(now, priority, H), tid, now))
        self.queues[letter].sort()

    def check_in(self, now: float, letter: str, slot: float, tid: str) -> None:
        """A booked citizen checking in: waits under the slot time, counts from max(now, slot)."""
        self.queues[letter].append((checkin_order_key(slot), tid, max(now, slot)))
        self.queues[letter].sort()

    def call(self, served: list[str]) -> tuple[str, float] | None:
        heads = {q: Head(q, items[0][1], items[0][0]) for q, items in self.queues.items()
                 if items}
        chosen = select_next(served, heads, STEP)
        if chosen is None:
            return None
        key, tid, joined = self.queues[chosen.queue].pop(0)
        assert (key, tid) == (chosen.order_key, chosen.ticket_id)
        return tid, joined


WINDOW_LAYOUTS = [
    [["A"]],
    [["M", "A"], ["A"], ["B", "A"]],
    [["H", "A", "B"], ["A", "B", "C"], ["C"]],
    [["A", "B", "C", "D"], ["D", "C", "B", "A"]],
]


EARLY, LATE = 30.0, 15.0  # check-in window around the slot, minutes (booking_rules defaults)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("appointments", [False, True])
def test_nobody_is_passed_over_by_someone_who_joined_more_than_the_bound_later(
    seed: int, appointments: bool,
) -> None:
    """With checked-in appointments among the arrivals (slot anywhere from EARLY minutes
    after to LATE minutes before the check-in), B = max(H, LATE) + (n − 1) × S, counting an
    appointment as joined at max(check-in, slot)."""
    rng = random.Random(seed)
    layout = rng.choice(WINDOW_LAYOUTS)
    letters = sorted({q for w in layout for q in w})
    sim = Sim(rng, {q: [] for q in letters})
    now, passes_checked, n = 0.0, 0, 0
    for _ in range(400):
        now += rng.expovariate(1 / 45.0)  # a ticket every 45 s on average
        if rng.random() < 0.7:
            n += 1
            if appointments and rng.random() < 0.3:
                slot = now + rng.uniform(-LATE, EARLY) * MIN
                sim.check_in(now, rng.choice(letters), slot, f"t{n}")
            else:
                sim.arrive(now, rng.choice(letters), rng.random() < 0.15, f"t{n}")
        if rng.random() < 0.6:
            served = rng.choice(layout)
            waiting_before = {tid: joined for q in served for _, tid, joined in sim.queues[q]}
            picked = sim.call(served)
            if picked is None:
                continue
            tid, joined = picked
            late = LATE if appointments else 0.0
            bound = pass_over_bound_minutes(len(served), H, STEP, late) * MIN
            for other, other_joined in waiting_before.items():
                if other != tid:
                    passes_checked += 1
                    assert joined <= other_joined + bound + 1e-6, (
                        f"{tid} joined {joined - other_joined:.0f}s after {other} and went first")
    assert passes_checked > 0


def test_a_late_check_in_longer_than_h_widens_the_bound() -> None:
    assert pass_over_bound_minutes(2, H, STEP, 15.0) == 40  # L ≤ H: the bound is unchanged
    assert pass_over_bound_minutes(2, H, STEP, 45.0) == 55


def test_the_bound_is_tight() -> None:
    """A priority ticket in the first queue may pass one that joined just under the bound earlier.

    The plain ticket waits in the window's last queue, the worst place to be.
    """
    served = ["M", "A"]
    bound = pass_over_bound_minutes(len(served), H, STEP)  # 40 min
    # plain ticket joined at 0 in the LAST queue, priority ticket in the FIRST queue at 40 - ε
    heads = {"M": head("M", bound - 0.01, priority=True), "A": head("A", 0)}
    assert select_next(served, heads, STEP).queue == "M"
    heads = {"M": head("M", bound + 0.01, priority=True), "A": head("A", 0)}
    assert select_next(served, heads, STEP).queue == "A"


# ---- re-join N places back -------------------------------------------------------------


def _place(keys: list[float], places: int, now: float) -> int:
    """Where a re-joining ticket lands: how many of ``keys`` come before it."""
    key = rules.rejoin_key(keys[: places + 1], places, now)
    return sum(1 for k in keys if k < key)


def test_rejoin_lands_places_back_behind_the_head() -> None:
    keys = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert _place(keys, 3, 100.0) == 3
    assert _place(keys, 1, 100.0) == 1
    assert _place(keys, 0, 100.0) == 0


def test_rejoin_into_a_short_queue_goes_to_its_end() -> None:
    assert _place([10.0, 20.0], 3, 100.0) == 2
    assert rules.rejoin_key([10.0, 20.0], 3, 100.0) <= 100.0


def test_rejoin_into_an_empty_queue_uses_now() -> None:
    assert rules.rejoin_key([], 3, 100.0) == 100.0
    assert rules.rejoin_key([], 0, 100.0) == 100.0


def test_rejoin_never_goes_after_someone_who_joins_later() -> None:
    # the queue's tickets all carry priority keys far in the past; a re-joiner must not
    # land after a walk-in that arrives later, so the key is capped at now
    key = rules.rejoin_key([-5000.0], 3, 100.0)
    assert -5000.0 < key <= 100.0


# ---- estimated wait ----------------------------------------------------------------------


def test_mean_service_without_samples_is_the_expected_time() -> None:
    assert mean_service_seconds([], 12) == 720


def test_recent_service_times_pull_the_estimate() -> None:
    one = mean_service_seconds([120.0], 10)
    assert one == pytest.approx((600 + 120) / 2)
    many = mean_service_seconds([120.0] * RECENT_SERVICES, 10)
    assert 120 < many < one
    assert many == pytest.approx((600 + 120 * RECENT_SERVICES) / (RECENT_SERVICES + 1))


def test_wait_shares_the_people_ahead_over_open_windows() -> None:
    assert estimated_wait_seconds(0, 600, 3) == 0
    assert estimated_wait_seconds(6, 600, 3) == 1200
    assert estimated_wait_seconds(6, 600, 1) == 3600
    assert estimated_wait_seconds(6, 600, 6) < estimated_wait_seconds(6, 600, 2)


def test_no_estimate_without_a_window() -> None:
    with pytest.raises(ValueError):
        estimated_wait_seconds(4, 600, 0)
