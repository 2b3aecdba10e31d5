"""Routing and call-next selection: which waiting ticket a window calls next.

The rule (docs/ROUTING.md states it for people):

* Each waiting ticket has an *order key* = the time it joined its queue, minus a
  head start H for priority tickets (green channel, or a transfer, which must not queue
  twice); a checked-in appointment waits under its slot's start time
  (``ticketing.booking_rules.checkin_order_key``).
* A window serving queues q0, q1, … q(n-1) in that order compares the head of each
  queue by ``order key + k × S`` where k is the queue's position and S the hall's
  queue step; tickets sent directly to this window come before all of them.
* It calls the smallest.

Bound: a ticket is only ever passed over by tickets whose adjusted key is smaller,
that is, tickets that joined at most ``H + (n-1) × S`` minutes after it. So once
the window has served everyone who joined before ``t + H + (n-1)·S``, it is next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hall.config import HallConfig
from hall.errors import IllegalTransition
from ticketing.model import Ticket, WindowState

DIRECT = "@direct"  # pseudo-queue of tickets transferred to one window


@dataclass(frozen=True)
class Head:
    """The first ticket of one queue as a window sees it."""

    queue: str
    ticket_id: str
    order_key: float


def served_queues(cfg: HallConfig, window: WindowState) -> tuple[str, ...]:
    """The queues a window serves now, in call order: its tide override, else its own."""
    if window.queues_override is not None:
        return window.queues_override
    return cfg.window_queues(window.number)


def reachable(cfg: HallConfig, window: WindowState, ticket: Ticket) -> bool:
    """Whether a window may call this ticket: sent to it, or in a queue it serves now."""
    if ticket.target_window is not None:
        return ticket.target_window == window.number
    return ticket.queue in served_queues(cfg, window)


def require_reachable(cfg: HallConfig, window: WindowState, ticket: Ticket) -> None:
    """Refuse (``not_served_here``) a ticket the window could not call next."""
    if not reachable(cfg, window, ticket):
        raise IllegalTransition(
            f"ticket {ticket.number} waits for another window; window {window.number} serves"
            f" {', '.join(served_queues(cfg, window))}",
            code="not_served_here", params={"window": window.number, "number": ticket.number},
        )


def order_key(enqueued_at: float, has_priority: bool, head_start_minutes: float) -> float:
    """The key a ticket waits under in its queue (smaller goes first)."""
    return enqueued_at - (head_start_minutes * 60.0 if has_priority else 0.0)


def select_next(
    served_queues: Sequence[str], heads: Mapping[str, Head], queue_step_minutes: float
) -> Head | None:
    """Pick the ticket a window calls next from the heads of the queues it serves."""
    if DIRECT in heads:
        return heads[DIRECT]
    best: tuple[float, int, Head] | None = None
    for position, queue in enumerate(served_queues):
        head = heads.get(queue)
        if head is None:
            continue
        adjusted = head.order_key + position * queue_step_minutes * 60.0
        if best is None or (adjusted, position) < best[:2]:
            best = (adjusted, position, head)
    return best[2] if best else None


def pass_over_bound_minutes(
    queue_count: int, head_start_minutes: float, queue_step_minutes: float,
    late_checkin_minutes: float = 0.0,
) -> float:
    """How much later than a ticket another ticket may have joined and still go before it.

    A checked-in appointment waits under its slot time and counts as joined at
    max(check-in, slot start); one checked in up to ``late_checkin_minutes`` after its slot
    acts like a head start of that much (docs/ROUTING.md).
    """
    return (max(head_start_minutes, late_checkin_minutes)
            + max(0, queue_count - 1) * queue_step_minutes)


def rejoin_key(queue_keys: Sequence[float], places_back: int, now: float) -> float:
    """Order key for a no-show re-joining ``places_back`` places behind the current head.

    ``queue_keys`` are the keys of the queue's first ``places_back + 1`` tickets, in order.
    With fewer people waiting than that, the ticket goes to the end (but never after now).
    """
    if places_back <= 0:
        return (queue_keys[0] - 0.001) if queue_keys else now
    if len(queue_keys) <= places_back:
        return min(now, queue_keys[-1] + 0.001) if queue_keys else now
    before, after = queue_keys[places_back - 1], queue_keys[places_back]
    return (before + after) / 2.0
