"""Efficiency supervision (效能电子监察), pure: the alerts a manager must see, and when each starts.

Every alert carries ``since``: the moment its condition holds. Conditions that
are only a matter of time (a wait passing the hall's target, a service running
far past its matter's expected time) are returned ahead of time with a future
``since``, so a dashboard shows them the second they become true without asking
the server again. ``active(alerts, now)`` keeps the ones that hold at ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

LONG_SERVICE_FACTOR = 2.0  # "far past expected": twice the matter's expected minutes
BAD_RATING_MINUTES = 60.0  # a bad rating stays an alert this long (its case stays listed)


@dataclass(frozen=True)
class QueueView:
    letter: str
    waiting: int
    oldest_enqueued_at: float | None


@dataclass(frozen=True)
class WindowView:
    number: int
    open: bool  # open and staffed, able to call
    current_number: str | None
    serving_since: float | None  # start of service of its current ticket
    expected_minutes: float | None  # the current ticket's matter
    queues: tuple[str, ...]
    idle_since: float  # when it last became free (or opened)


@dataclass(frozen=True)
class BadRating:
    ticket: str
    number: str
    level: str
    window: int | None
    at: float


@dataclass(frozen=True)
class Alert:
    kind: str  # wait_over_target | idle_window | long_service | bad_rating
    key: str  # stable per condition, so a page can keep its place
    since: float
    until: float | None = None
    queue: str | None = None
    window: int | None = None
    number: str | None = None
    minutes: float | None = None  # the target / expected time the alert is measured against
    level: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def alerts(
    now: float, wait_target_minutes: float, queues: Iterable[QueueView],
    windows: Iterable[WindowView], bad: Iterable[BadRating],
) -> list[Alert]:
    """Current and upcoming alerts, ordered by when they start."""
    out: list[Alert] = []
    listed = list(queues)
    for q in listed:
        if q.waiting and q.oldest_enqueued_at is not None:
            out.append(Alert("wait_over_target", f"wait:{q.letter}",
                             q.oldest_enqueued_at + wait_target_minutes * 60, queue=q.letter,
                             minutes=wait_target_minutes))
    waiting: Mapping[str, int] = {q.letter: q.waiting for q in listed}
    for w in windows:
        if w.open and w.current_number is None and any(waiting.get(q, 0) for q in w.queues):
            out.append(Alert("idle_window", f"idle:{w.number}", max(w.idle_since, 0.0),
                             window=w.number))
        if w.current_number is not None and w.serving_since is not None \
                and w.expected_minutes is not None:
            limit = w.expected_minutes * LONG_SERVICE_FACTOR
            out.append(Alert("long_service", f"long:{w.number}:{w.current_number}",
                             w.serving_since + limit * 60, window=w.number,
                             number=w.current_number, minutes=limit))
    for r in bad:
        if now - r.at <= BAD_RATING_MINUTES * 60:
            out.append(Alert("bad_rating", f"bad:{r.ticket}", r.at,
                             until=r.at + BAD_RATING_MINUTES * 60, window=r.window,
                             number=r.number, level=r.level))
    return sorted(out, key=lambda a: (a.since, a.key))


def active(items: Iterable[Alert], now: float) -> list[Alert]:
    return [a for a in items if a.since <= now and (a.until is None or now < a.until)]
