"""Every legal and illegal transition of the pure ticket and window life cycles."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from hall.errors import IllegalTransition, Invalid
from hall.events import EventType
from ticketing import model, public
from ticketing.model import (
    Channel,
    Ticket,
    TicketStatus,
    WindowState,
    WindowStatus,
)

T0 = 1_795_000_000.0
S = TicketStatus


def ticket(status: TicketStatus = S.WAITING, **changes: object) -> Ticket:
    base = Ticket(id="tid-1", hall="district", day="20261118", queue="A", matter="QY-KB",
                  channel=Channel.KIOSK, issued_at=T0, enqueued_at=T0, number="A001",
                  history=(model.Step(T0, "issued"),))
    return dataclasses.replace(base, status=status, **changes)  # type: ignore[arg-type]


def open_window(number: int = 1, clerk: str = "S01", current: str | None = None) -> WindowState:
    return WindowState(number, WindowStatus.OPEN, clerk, current, since=T0)


def at_window(status: TicketStatus, **changes: object) -> tuple[Ticket, WindowState]:
    """A ticket in ``status`` sitting at window 1 (as the store would hold it)."""
    t = ticket(status, window=1, clerk="S01", first_clerk="S01", calls=1, called_at=T0 + 10,
               **changes)
    return t, open_window(current=t.id)


# ---- the happy path: issue → waiting → called → serving → done --------------------------


def test_full_life_cycle_records_every_step() -> None:
    t = ticket()
    w = open_window()
    tr = model.call(t, w, T0 + 60)
    called, w, event = tr.ticket, tr.window, tr.event
    assert event is EventType.TICKET_CALLED
    assert (called.status, called.window, called.clerk, called.calls) == (S.CALLED, 1, "S01", 1)
    assert called.called_at == T0 + 60 and called.first_clerk == "S01"
    assert w.current == t.id

    serving = model.start(called, w, T0 + 90).ticket
    assert serving.status is S.SERVING and serving.serving_at == T0 + 90

    tr = model.finish(serving, w, T0 + 600)
    done, w = tr.ticket, tr.window
    assert done.status is S.DONE and done.done_at == T0 + 600
    assert w.current is None and w.served == 1 and w.status is WindowStatus.OPEN
    assert [s.action for s in done.history] == ["issued", "called", "serving", "done"]
    assert all(s.window == 1 and s.clerk == "S01" for s in done.history[1:])


def test_the_input_state_is_never_mutated() -> None:
    t, w = ticket(), open_window()
    model.call(t, w, T0)
    assert t.status is S.WAITING and w.current is None


def test_recall_counts_every_call_and_keeps_status() -> None:
    t, w = at_window(S.CALLED)
    once = model.recall(t, w, T0 + 30).ticket
    twice = model.recall(once, w, T0 + 60).ticket
    assert (once.calls, twice.calls) == (2, 3)
    assert twice.status is S.CALLED
    assert [s.action for s in twice.history[-2:]] == ["recalled", "recalled"]


def test_no_show_frees_the_window_without_counting_a_service() -> None:
    t, w = at_window(S.CALLED)
    tr = model.no_show(t, w, T0 + 120)
    gone, w2 = tr.ticket, tr.window
    assert gone.status is S.NO_SHOW and gone.no_show_at == T0 + 120
    assert w2.current is None and w2.served == 0


# ---- re-join after a no-show ---------------------------------------------------------


def _no_show(at: float = T0, rejoins: int = 0) -> Ticket:
    return ticket(S.NO_SHOW, no_show_at=at, window=1, clerk="S01", rejoins=rejoins)


def test_rejoin_within_the_time_limit_waits_again() -> None:
    back = model.rejoin(_no_show(), T0 + 29 * 60, rejoin_minutes=30, max_rejoins=1).ticket
    assert back.status is S.WAITING and back.rejoins == 1
    assert back.window is None and back.clerk is None
    assert back.enqueued_at == T0 + 29 * 60
    assert back.history[-1].action == "rejoined"


def test_rejoin_exactly_at_the_limit_is_allowed() -> None:
    assert model.rejoin(_no_show(), T0 + 30 * 60, 30, 1).ticket.status is S.WAITING


def test_rejoin_after_the_time_limit_is_refused() -> None:
    with pytest.raises(IllegalTransition) as err:
        model.rejoin(_no_show(), T0 + 30 * 60 + 1, 30, 1)
    assert err.value.code == "rejoin_expired" and err.value.status == 409


def test_rejoin_limit() -> None:
    with pytest.raises(IllegalTransition) as err:
        model.rejoin(_no_show(rejoins=1), T0 + 60, 30, max_rejoins=1)
    assert err.value.code == "rejoin_limit"
    # a hall allowing two re-joins takes the second one
    assert model.rejoin(_no_show(rejoins=1), T0 + 60, 30, max_rejoins=2).ticket.rejoins == 2
    with pytest.raises(IllegalTransition):
        model.rejoin(_no_show(), T0 + 60, 30, max_rejoins=0)


def test_a_rejoined_ticket_can_be_called_again() -> None:
    back = model.rejoin(_no_show(), T0 + 60, 30, 1).ticket
    tr = model.call(back, open_window(2, "S02"), T0 + 120)
    called = tr.ticket
    assert called.status is S.CALLED and called.window == 2 and called.calls == 1
    assert called.first_clerk == "S02"  # nobody had served it yet


@pytest.mark.parametrize("status", [S.WAITING, S.CALLED, S.SERVING, S.DONE, S.CANCELLED])
def test_only_a_no_show_may_rejoin(status: TicketStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        model.rejoin(ticket(status, no_show_at=T0), T0 + 60, 30, 1)
    assert err.value.code == "illegal_transition"


# ---- transfer (转移, 首问负责) ----------------------------------------------------------


@pytest.mark.parametrize("status", [S.CALLED, S.SERVING])
def test_transfer_to_a_queue_keeps_first_clerk_and_history(status: TicketStatus) -> None:
    t, w = at_window(status)
    tr = model.transfer(t, w, T0 + 300, queue="D", to_window=None, note="needs tax")
    moved, w2 = tr.ticket, tr.window
    assert moved.status is S.WAITING and moved.queue == "D" and moved.target_window is None
    assert moved.transferred and moved.has_priority
    assert moved.first_clerk == "S01" and moved.window is None and moved.clerk is None
    assert moved.enqueued_at == T0 + 300
    assert moved.history[:-1] == t.history
    last = moved.history[-1]
    assert (last.action, last.window, last.clerk, last.note) == ("transferred", 1, "S01",
                                                                 "needs tax")
    assert w2.current is None and w2.served == 0, "a transfer is not a service (docs/API.md)"


def test_transfer_to_a_window_then_served_there_keeps_first_clerk() -> None:
    t, w = at_window(S.SERVING)
    tr = model.transfer(t, w, T0 + 300, queue="A", to_window=8, note="")
    moved = tr.ticket
    assert moved.target_window == 8 and moved.queue == "A"
    tr = model.call(moved, open_window(8, "S08"), T0 + 400)
    called = tr.ticket
    assert called.clerk == "S08" and called.first_clerk == "S01"
    assert called.target_window is None
    assert [s.action for s in called.history] == ["issued", "transferred", "called"]


def test_transfer_to_the_same_window_is_refused() -> None:
    t, w = at_window(S.CALLED)
    with pytest.raises(Invalid) as err:
        model.transfer(t, w, T0, queue="A", to_window=1, note="")
    assert err.value.code == "same_window" and err.value.status == 422


@pytest.mark.parametrize("status", [S.WAITING, S.DONE, S.NO_SHOW, S.CANCELLED])
def test_transfer_needs_a_called_or_serving_ticket(status: TicketStatus) -> None:
    t, w = at_window(status)
    with pytest.raises(IllegalTransition) as err:
        model.transfer(t, w, T0, queue="A", to_window=None, note="")
    assert err.value.code == "illegal_transition"


# ---- cancel ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.WAITING, S.NO_SHOW])
def test_cancel_a_waiting_or_missed_ticket(status: TicketStatus) -> None:
    cancelled = model.cancel(ticket(status), T0 + 5, by="S16").ticket
    assert cancelled.status is S.CANCELLED
    assert (cancelled.history[-1].action, cancelled.history[-1].clerk) == ("cancelled", "S16")


@pytest.mark.parametrize("status", [S.CALLED, S.SERVING, S.DONE, S.CANCELLED])
def test_cancel_refused_once_called(status: TicketStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        model.cancel(ticket(status), T0, by=None)
    assert err.value.code == "illegal_transition"
    assert "cancel" in err.value.message and status.value in err.value.message


# ---- the whole ticket transition table ----------------------------------------------

LEGAL = {
    "call": {S.WAITING},
    "recall": {S.CALLED},
    "start": {S.CALLED},
    "finish": {S.SERVING},
    "no_show": {S.CALLED},
}


def _apply(action: str, t: Ticket, w: WindowState) -> object:
    if action == "call":
        return model.call(t, dataclasses.replace(w, current=None), T0 + 1)
    return getattr(model, action)(t, w, T0 + 1)


@pytest.mark.parametrize("action", sorted(LEGAL))
@pytest.mark.parametrize("status", list(S))
def test_transition_table(action: str, status: TicketStatus) -> None:
    t, w = at_window(status)
    if status in LEGAL[action]:
        _apply(action, t, w)
    else:
        with pytest.raises(IllegalTransition) as err:
            _apply(action, t, w)
        assert err.value.code == "illegal_transition" and err.value.status == 409


@pytest.mark.parametrize("action", ["recall", "start", "finish", "no_show"])
def test_window_actions_need_the_ticket_at_that_window(action: str) -> None:
    t, _ = at_window(S.SERVING if action == "finish" else S.CALLED)
    other = open_window(2, "S02", current="someone-else")
    with pytest.raises(IllegalTransition) as err:
        getattr(model, action)(t, other, T0)
    assert err.value.code == "not_at_window"
    with pytest.raises(IllegalTransition) as err:
        model.transfer(t, other, T0, queue="A", to_window=None, note="")
    assert err.value.code == "not_at_window"


def test_call_needs_a_free_open_staffed_window() -> None:
    t = ticket()
    cases = {
        "window_not_staffed": WindowState(1, WindowStatus.CLOSED),
        "window_not_open": dataclasses.replace(open_window(), status=WindowStatus.PAUSED),
        "window_busy": open_window(current="other-ticket"),
    }
    closing = dataclasses.replace(open_window(), status=WindowStatus.CLOSING)
    for code, w in [*cases.items(), ("window_not_open", closing)]:
        with pytest.raises(IllegalTransition) as err:
            model.call(t, w, T0)
        assert err.value.code == code, code


# ---- window life cycle: login / logout / pause / resume / close ------------------------


def test_login_opens_a_closed_window() -> None:
    w = model.login(WindowState(3), "S03", T0).window
    assert (w.status, w.clerk, w.since) == (WindowStatus.OPEN, "S03", T0)


def test_login_again_by_the_same_clerk_is_harmless_and_keeps_a_pause() -> None:
    paused = WindowState(3, WindowStatus.PAUSED, "S03")
    assert model.login(paused, "S03", T0).window.status is WindowStatus.PAUSED
    assert model.login(open_window(3, "S03"), "S03", T0).window.status is WindowStatus.OPEN


def test_login_at_a_window_another_clerk_holds_is_refused() -> None:
    with pytest.raises(IllegalTransition) as err:
        model.login(open_window(3, "S03"), "S04", T0)
    assert err.value.code == "window_taken"


def test_logout_closes_an_idle_window() -> None:
    w = model.logout(open_window(), T0 + 5).window
    assert (w.status, w.clerk) == (WindowStatus.CLOSED, None)


def test_logout_with_a_ticket_at_the_window_is_refused() -> None:
    with pytest.raises(IllegalTransition) as err:
        model.logout(open_window(current="t"), T0)
    assert err.value.code == "window_busy"


def test_pause_and_resume() -> None:
    paused = model.pause(open_window(), T0 + 1).window
    assert paused.status is WindowStatus.PAUSED and paused.clerk == "S01"
    resumed = model.resume(paused, T0 + 2).window
    assert resumed.status is WindowStatus.OPEN and resumed.since == T0 + 2


@pytest.mark.parametrize("status", [WindowStatus.CLOSED, WindowStatus.PAUSED,
                                    WindowStatus.CLOSING])
def test_pause_needs_an_open_window(status: WindowStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        model.pause(WindowState(1, status, "S01"), T0)
    assert err.value.code == "illegal_transition"


def test_pause_with_a_ticket_at_the_window_is_refused() -> None:
    with pytest.raises(IllegalTransition) as err:
        model.pause(open_window(current="t"), T0)
    assert err.value.code == "window_busy"


@pytest.mark.parametrize("status", [WindowStatus.CLOSED, WindowStatus.OPEN,
                                    WindowStatus.CLOSING])
def test_resume_needs_a_paused_window(status: WindowStatus) -> None:
    with pytest.raises(IllegalTransition) as err:
        model.resume(WindowState(1, status, "S01"), T0)
    assert err.value.code == "illegal_transition"


@pytest.mark.parametrize("status", [WindowStatus.OPEN, WindowStatus.PAUSED])
def test_close_an_idle_window_closes_now(status: WindowStatus) -> None:
    w = model.close(WindowState(1, status, "S01"), T0).window
    assert (w.status, w.clerk) == (WindowStatus.CLOSED, None)


def test_close_a_closed_window_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        model.close(WindowState(1), T0)


@pytest.mark.parametrize("end", ["finish", "no_show", "transfer"])
def test_closing_after_the_current_ticket(end: str) -> None:
    t, w = at_window(S.SERVING if end != "no_show" else S.CALLED)
    closing = model.close(w, T0 + 1).window
    assert closing.status is WindowStatus.CLOSING and closing.clerk == "S01"
    assert closing.current == t.id
    with pytest.raises(IllegalTransition):  # it takes no new ticket meanwhile
        model.call(ticket(id="t2"), dataclasses.replace(closing, current=None), T0 + 2)
    if end == "transfer":
        tr = model.transfer(t, closing, T0 + 3, queue="B", to_window=None, note="")
        _, after = tr.ticket, tr.window
    else:
        after = getattr(model, end)(t, closing, T0 + 3).window
    assert (after.status, after.clerk, after.current) == (WindowStatus.CLOSED, None, None)


def test_closing_window_can_still_recall_and_serve_its_ticket() -> None:
    t, w = at_window(S.CALLED)
    closing = model.close(w, T0).window
    assert model.recall(t, closing, T0 + 1).ticket.calls == 2
    assert model.start(t, closing, T0 + 1).ticket.status is S.SERVING


def test_reassign_lends_a_window_to_other_queues_and_gives_it_back() -> None:
    lent = model.reassign(open_window(6, "S06"), ("A", "B"), T0 + 1).window
    assert lent.queues_override == ("A", "B") and lent.status is WindowStatus.OPEN
    back = model.reassign(lent, None, T0 + 2).window
    assert back.queues_override is None and back.since == T0 + 2


def test_reassign_to_no_queue_is_refused() -> None:
    with pytest.raises(Invalid) as err:
        model.reassign(open_window(6, "S06"), (), T0)
    assert err.value.code == "no_queues"


# ---- serialisation the store relies on ---------------------------------------------------


def test_ticket_and_window_round_trip_through_dicts() -> None:
    t, w = at_window(S.SERVING)
    tr = model.transfer(t, w, T0 + 1, queue="D", to_window=8, note="x")
    moved, w2 = tr.ticket, tr.window
    assert Ticket.from_dict(moved.to_dict()) == moved
    assert WindowState.from_dict(w2.to_dict()) == w2
    w3 = dataclasses.replace(w2, queues_override=("A", "B"))
    assert WindowState.from_dict(w3.to_dict()) == w3


def test_the_public_projection_hides_ids_clerks_history_and_priority() -> None:
    t, _ = at_window(S.CALLED, priority_group="elderly")
    shown = public.public_ticket(t.to_dict())
    for hidden in ("id", "clerk", "first_clerk", "history", "priority_group"):
        assert hidden not in shown
    assert shown["number"] == "A001" and shown["window"] == 1
    mine = public.citizen_ticket(t.to_dict())
    assert mine["id"] == t.id and "clerk" not in mine and "history" not in mine


def test_every_transition_returns_one_shape_with_its_event() -> None:
    t, w = at_window(S.CALLED)
    serving = model.start(t, w, T0).ticket
    shapes: dict[str, model.Transition[Any, Any]] = {
        "call": model.call(ticket(), open_window(), T0),
        "recall": model.recall(t, w, T0),
        "start": model.start(t, w, T0),
        "finish": model.finish(serving, w, T0),
        "no_show": model.no_show(t, w, T0),
        "transfer": model.transfer(t, w, T0, queue="B", to_window=None, note=""),
        "rejoin": model.rejoin(_no_show(), T0 + 60, 30, 1),
        "cancel": model.cancel(ticket(), T0, None),
        "login": model.login(WindowState(2), "S02", T0),
        "pause": model.pause(open_window(), T0),
        "close": model.close(open_window(), T0),
    }
    events = {name: tr.event for name, tr in shapes.items()}
    assert events == {
        "call": EventType.TICKET_CALLED, "recall": EventType.TICKET_RECALLED,
        "start": EventType.TICKET_SERVING, "finish": EventType.TICKET_DONE,
        "no_show": EventType.TICKET_NO_SHOW, "transfer": EventType.TICKET_TRANSFERRED,
        "rejoin": EventType.TICKET_REJOINED, "cancel": EventType.TICKET_CANCELLED,
        "login": EventType.WINDOW_CHANGED, "pause": EventType.WINDOW_CHANGED,
        "close": EventType.WINDOW_CHANGED,
    }
    assert all(isinstance(tr, model.Transition) for tr in shapes.values())
    assert shapes["rejoin"].window is None and shapes["login"].ticket is None


def test_a_window_counts_what_it_finished_on_the_tickets_day() -> None:
    t, w = at_window(S.SERVING)
    w = dataclasses.replace(w, served=7, served_day="20261117")  # yesterday's count
    after = model.finish(t, w, T0).window
    assert (after.served, after.served_day) == (1, t.day)
    assert after.served_on(t.day) == 1 and after.served_on("20261119") == 0
    moved = model.transfer(*at_window(S.SERVING), T0, queue="B", to_window=None, note="").window
    assert moved.served == 0, "a transfer is not a service"
