"""The ticket and window life cycles, as pure functions: state in, new state and event out.

Nothing here touches Redis or HTTP. Every transition returns one shape, a
``Transition(ticket, window, event)``: the ticket and/or window after it (``None`` for
the side it does not touch) and the event that records it; or it raises an
``IllegalTransition`` that names why. Times are POSIX seconds given by the caller's clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from hall.errors import IllegalTransition, Invalid
from hall.events import EventType


class TicketStatus(str, Enum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class WindowStatus(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    PAUSED = "paused"
    CLOSING = "closing"  # finishes its current ticket, takes no new one


class Channel(str, Enum):
    KIOSK = "kiosk"
    PHONE = "phone"
    APPOINTMENT = "appointment"
    COUNTER = "counter"


@dataclass(frozen=True)
class Step:
    """One line of a ticket's history (首问负责: transfers keep it all)."""

    at: float
    action: str
    window: int | None = None
    clerk: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "action": self.action, "window": self.window,
                "clerk": self.clerk, "note": self.note}


@dataclass(frozen=True)
class Ticket:
    id: str
    hall: str
    day: str
    queue: str
    matter: str
    channel: Channel
    issued_at: float
    enqueued_at: float
    number: str = ""
    status: TicketStatus = TicketStatus.WAITING
    priority_group: str | None = None
    appointment: bool = False
    transferred: bool = False
    target_window: int | None = None
    window: int | None = None
    clerk: str | None = None
    first_clerk: str | None = None
    calls: int = 0
    called_at: float | None = None
    serving_at: float | None = None
    done_at: float | None = None
    no_show_at: float | None = None
    rejoins: int = 0
    history: tuple[Step, ...] = ()

    @property
    def has_priority(self) -> bool:
        return self.priority_group is not None or self.appointment or self.transferred

    def to_dict(self) -> dict[str, Any]:
        # a flat copy: dataclasses.asdict deep-copies recursively and is hot-path slow
        data = {name: getattr(self, name) for name in _TICKET_FIELDS}
        data["channel"] = self.channel.value
        data["status"] = self.status.value
        data["history"] = tuple(step.as_dict() for step in self.history)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ticket:
        kwargs = {k: v for k, v in data.items() if k in _TICKET_FIELDS}
        kwargs["channel"] = Channel(data["channel"])
        kwargs["status"] = TicketStatus(data["status"])
        kwargs["history"] = tuple(Step(**s) for s in data.get("history", ()))
        return cls(**kwargs)


_TICKET_FIELDS = tuple(f.name for f in dataclasses.fields(Ticket))


@dataclass(frozen=True)
class WindowState:
    number: int
    status: WindowStatus = WindowStatus.CLOSED
    clerk: str | None = None
    current: str | None = None
    queues_override: tuple[str, ...] | None = None
    since: float = 0.0
    served: int = field(default=0)  # tickets finished here on ``served_day`` (docs/ROUTING.md)
    served_day: str = ""

    def served_on(self, day: str) -> int:
        """Tickets finished at this window on ``day`` (the same count the reports give)."""
        return self.served if self.served_day == day else 0

    def to_dict(self) -> dict[str, Any]:
        override = list(self.queues_override) if self.queues_override is not None else None
        data: dict[str, Any] = {
            "number": self.number, "status": self.status.value, "clerk": self.clerk,
            "current": self.current, "queues_override": override, "since": self.since,
            "served": self.served, "served_day": self.served_day,
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowState:
        override = data.get("queues_override")
        return cls(
            number=int(data["number"]),
            status=WindowStatus(data.get("status", "closed")),
            clerk=data.get("clerk"),
            current=data.get("current"),
            queues_override=tuple(override) if override is not None else None,
            since=float(data.get("since", 0.0)),
            served=int(data.get("served", 0)),
            served_day=str(data.get("served_day", "")),
        )


def _refuse(ticket: Ticket, action: str, allowed: tuple[TicketStatus, ...]) -> None:
    if ticket.status not in allowed:
        names = " or ".join(s.value for s in allowed)
        raise IllegalTransition(
            f"cannot {action} ticket {ticket.number}: it is {ticket.status.value}, not {names}"
        )


RecordT = TypeVar("RecordT", Ticket, WindowState)
_FIELD_NAMES = {cls: frozenset(f.name for f in dataclasses.fields(cls))
                for cls in (Ticket, WindowState)}


def _replace(record: RecordT, **changes: Any) -> RecordT:
    """``dataclasses.replace`` for a ticket or window (frozen, every field set by
    ``__init__``, no ``__post_init__``): the fields copied, some changed. Every transition
    makes one or two, on every call, finish and tide run: the generic one is 3× slower."""
    unknown = changes.keys() - _FIELD_NAMES[type(record)]
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {sorted(unknown)[0]!r}")
    new = object.__new__(type(record))
    fields = new.__dict__
    fields.update(record.__dict__)
    fields.update(changes)
    return new


def _step(ticket: Ticket, step: Step, **changes: Any) -> Ticket:
    return _replace(ticket, history=(*ticket.history, step), **changes)


TicketT = TypeVar("TicketT", Ticket, None)
WindowT = TypeVar("WindowT", WindowState, None)


@dataclass(frozen=True)
class Transition(Generic[TicketT, WindowT]):
    """What one transition did: the ticket and window after it (None: untouched), its event."""

    ticket: TicketT
    window: WindowT
    event: EventType


# ---- ticket transitions ---------------------------------------------------------------


def call(ticket: Ticket, window: WindowState, now: float) -> Transition[Ticket, WindowState]:
    """Call a waiting ticket to a window that is free to take it."""
    require_free_window(window)
    _refuse(ticket, "call", (TicketStatus.WAITING,))
    called = _step(
        ticket, Step(now, "called", window.number, window.clerk),
        status=TicketStatus.CALLED, window=window.number, clerk=window.clerk,
        first_clerk=ticket.first_clerk or window.clerk, calls=1, called_at=now,
        target_window=None,
    )
    return Transition(called, _replace(window, current=ticket.id),
                      EventType.TICKET_CALLED)


def recall(ticket: Ticket, window: WindowState, now: float) -> Transition[Ticket, WindowState]:
    """Call the window's current ticket once more (the citizen has not come yet)."""
    _require_current(ticket, window, "recall")
    _refuse(ticket, "recall", (TicketStatus.CALLED,))
    again = _step(ticket, Step(now, "recalled", window.number, window.clerk),
                  calls=ticket.calls + 1)
    return Transition(again, window, EventType.TICKET_RECALLED)


def start(ticket: Ticket, window: WindowState, now: float) -> Transition[Ticket, WindowState]:
    """The citizen has come to the window: service starts."""
    _require_current(ticket, window, "start serving")
    _refuse(ticket, "start serving", (TicketStatus.CALLED,))
    serving = _step(
        ticket, Step(now, "serving", window.number, window.clerk),
        status=TicketStatus.SERVING, serving_at=now,
    )
    return Transition(serving, window, EventType.TICKET_SERVING)


def finish(ticket: Ticket, window: WindowState, now: float) -> Transition[Ticket, WindowState]:
    """Service done: the ticket is served and the window free."""
    _require_current(ticket, window, "finish")
    _refuse(ticket, "finish", (TicketStatus.SERVING,))
    done = _step(
        ticket, Step(now, "done", window.number, window.clerk),
        status=TicketStatus.DONE, done_at=now,
    )
    return Transition(done, _release(window, served_day=ticket.day), EventType.TICKET_DONE)


def no_show(ticket: Ticket, window: WindowState, now: float) -> Transition[Ticket, WindowState]:
    """The called citizen did not come: the ticket may re-join later; the window is free."""
    _require_current(ticket, window, "mark as no-show")
    _refuse(ticket, "mark as no-show", (TicketStatus.CALLED,))
    gone = _step(
        ticket, Step(now, "no_show", window.number, window.clerk),
        status=TicketStatus.NO_SHOW, no_show_at=now,
    )
    return Transition(gone, _release(window), EventType.TICKET_NO_SHOW)


def rejoin(ticket: Ticket, now: float, rejoin_minutes: float, max_rejoins: int
           ) -> Transition[Ticket, None]:
    """A no-show comes back within the hall's time limit and waits again."""
    _refuse(ticket, "re-join", (TicketStatus.NO_SHOW,))
    assert ticket.no_show_at is not None
    if now - ticket.no_show_at > rejoin_minutes * 60:
        raise IllegalTransition(
            f"ticket {ticket.number} missed its call more than {rejoin_minutes:g} minutes ago;"
            " please take a new ticket",
            code="rejoin_expired",
        )
    if ticket.rejoins >= max_rejoins:
        raise IllegalTransition(
            f"ticket {ticket.number} has already re-joined {ticket.rejoins} time(s)",
            code="rejoin_limit",
        )
    back = _step(
        ticket, Step(now, "rejoined"),
        status=TicketStatus.WAITING, rejoins=ticket.rejoins + 1, window=None, clerk=None,
        enqueued_at=now,
    )
    return Transition(back, None, EventType.TICKET_REJOINED)


def transfer(
    ticket: Ticket, window: WindowState, now: float, *, queue: str, to_window: int | None,
    note: str,
) -> Transition[Ticket, WindowState]:
    """Send a called or serving ticket to another queue or window; first clerk stays on record."""
    _require_current(ticket, window, "transfer")
    _refuse(ticket, "transfer", (TicketStatus.CALLED, TicketStatus.SERVING))
    if to_window == window.number:
        raise Invalid("cannot transfer a ticket to the window it is at", code="same_window")
    moved = _step(
        ticket, Step(now, "transferred", window.number, window.clerk, note),
        status=TicketStatus.WAITING, queue=queue, target_window=to_window, transferred=True,
        window=None, clerk=None, enqueued_at=now,
    )
    return Transition(moved, _release(window), EventType.TICKET_TRANSFERRED)


def cancel(ticket: Ticket, now: float, by: str | None) -> Transition[Ticket, None]:
    """A waiting or missed ticket is given up (by the citizen, or ``by`` a clerk)."""
    _refuse(ticket, "cancel", (TicketStatus.WAITING, TicketStatus.NO_SHOW))
    gone = _step(ticket, Step(now, "cancelled", clerk=by), status=TicketStatus.CANCELLED)
    return Transition(gone, None, EventType.TICKET_CANCELLED)


# ---- window transitions ---------------------------------------------------------------


def _changed(window: WindowState) -> Transition[None, WindowState]:
    return Transition(None, window, EventType.WINDOW_CHANGED)


def login(window: WindowState, clerk: str, now: float) -> Transition[None, WindowState]:
    """A clerk takes the window (it opens, or stays paused); refused if another clerk has it."""
    if window.clerk is not None and window.clerk != clerk:
        raise IllegalTransition(
            f"window {window.number} is staffed by {window.clerk}; they must log out first",
            code="window_taken",
        )
    status = window.status if window.status is WindowStatus.PAUSED else WindowStatus.OPEN
    return _changed(_replace(window, clerk=clerk, status=status, since=now))


def logout(window: WindowState, now: float) -> Transition[None, WindowState]:
    """The clerk leaves an idle window; it closes."""
    _require_idle(window, "log out")
    return _changed(_replace(window, clerk=None, status=WindowStatus.CLOSED, since=now))


def pause(window: WindowState, now: float) -> Transition[None, WindowState]:
    """An open, idle window stops calling for a while."""
    if window.status is not WindowStatus.OPEN:
        raise IllegalTransition(f"window {window.number} is {window.status.value}, not open")
    _require_idle(window, "pause")
    return _changed(_replace(window, status=WindowStatus.PAUSED, since=now))


def resume(window: WindowState, now: float) -> Transition[None, WindowState]:
    """A paused window calls again."""
    if window.status is not WindowStatus.PAUSED:
        raise IllegalTransition(f"window {window.number} is {window.status.value}, not paused")
    return _changed(_replace(window, status=WindowStatus.OPEN, since=now))


def reassign(window: WindowState, queues: tuple[str, ...] | None, now: float
             ) -> Transition[None, WindowState]:
    """Lend a window to other queues (``queues`` in call order), or give it back with None."""
    if queues is not None and not queues:
        raise Invalid(f"window {window.number} must serve at least one queue", code="no_queues")
    return _changed(_replace(window, queues_override=queues, since=now))


def close(window: WindowState, now: float) -> Transition[None, WindowState]:
    """Close now if idle; otherwise stop taking tickets and close after the current one."""
    if window.status is WindowStatus.CLOSED:
        raise IllegalTransition(f"window {window.number} is already closed")
    if window.current is not None:
        return _changed(_replace(window, status=WindowStatus.CLOSING, since=now))
    return _changed(_replace(window, status=WindowStatus.CLOSED, clerk=None, since=now))


def _release(window: WindowState, served_day: str | None = None) -> WindowState:
    """The window after its ticket leaves; ``served_day``: it was served (finished) here,
    counted on the ticket's day (the day reports count it on)."""
    served, day = window.served, window.served_day
    if served_day is not None:
        served, day = window.served_on(served_day) + 1, served_day
    if window.status is WindowStatus.CLOSING:
        return _replace(window, current=None, status=WindowStatus.CLOSED, clerk=None,
                                   served=served, served_day=day)
    return _replace(window, current=None, served=served, served_day=day)


def require_free_window(window: WindowState) -> None:
    if window.clerk is None:
        raise IllegalTransition(f"no clerk is logged in at window {window.number}",
                                code="window_not_staffed")
    if window.status is not WindowStatus.OPEN:
        raise IllegalTransition(
            f"window {window.number} is {window.status.value}; it cannot call",
            code="window_not_open",
        )
    if window.current is not None:
        raise IllegalTransition(
            f"window {window.number} still has a ticket; finish, transfer or mark it no-show first",
            code="window_busy",
        )


def require_transfer_target(window: WindowState) -> None:
    """A ticket may be sent only to a window a clerk staffs and that is not closing."""
    if window.clerk is None or window.status in (WindowStatus.CLOSED, WindowStatus.CLOSING):
        raise IllegalTransition(
            f"window {window.number} is closed; transfer to a queue or to an open window",
            code="target_window_closed", params={"window": window.number},
        )


def _require_current(ticket: Ticket, window: WindowState, action: str) -> None:
    if window.current != ticket.id:
        raise IllegalTransition(
            f"cannot {action} ticket {ticket.number}: it is not at window {window.number}",
            code="not_at_window",
        )


def _require_idle(window: WindowState, action: str) -> None:
    if window.current is not None:
        raise IllegalTransition(
            f"cannot {action} window {window.number} while it has a ticket", code="window_busy"
        )
