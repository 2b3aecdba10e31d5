"""A tide decision applied to the hall's windows: the one rule the live service and the
simulator both call. Pure: windows in, the changed window out (or a DomainError).

* open: the window must be closed and the clerk, a member of staff who may staff it,
  must not be logged in at another window; the clerk is logged in
  (``ticketing.model.login``).
* close: ``ticketing.model.close`` (a window with a ticket closes after it).
* lend: the window serves the given queues (all of them known to the hall);
  return: its own queues again (``ticketing.model.reassign``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hall.config import HallConfig
from hall.errors import IllegalTransition, Invalid, NotFound
from ticketing import model
from ticketing.model import WindowState, WindowStatus
from tide.policy import Action, Decision, standby_clerk


def apply_decision(cfg: HallConfig, windows: Mapping[int, WindowState], d: Decision,
                   now: float) -> WindowState:
    """The window ``d`` changes, as it is after ``d``; ``windows`` holds every window."""
    if cfg.window(d.window) is None:
        raise NotFound(f"hall '{cfg.id}' has no window {d.window}", code="unknown_window")
    window = windows.get(d.window) or WindowState(d.window)
    if d.action is Action.OPEN:
        if d.clerk is None:
            raise Invalid("opening a window needs a clerk", code="no_standby_clerk")
        staff = cfg.staff_member(d.clerk)
        if staff is None or not staff.may_staff(d.window):
            raise Invalid(f"{d.clerk} is not a clerk rostered for window {d.window}",
                          code="not_rostered")
        if window.status is not WindowStatus.CLOSED:
            raise IllegalTransition(f"window {d.window} is already {window.status.value}",
                                    code="window_not_closed")
        elsewhere = sorted(n for n, w in windows.items() if n != d.window and w.clerk == d.clerk)
        if elsewhere:
            raise IllegalTransition(
                f"clerk {d.clerk} is logged in at window {elsewhere[0]} meanwhile",
                code="clerk_busy")
        return model.login(window, d.clerk, now).window
    if d.action is Action.CLOSE:
        return model.close(window, now).window
    if d.action is Action.LEND:
        for q in d.queues:
            if cfg.queue(q) is None:
                raise NotFound(f"hall '{cfg.id}' has no queue '{q}'", code="unknown_queue")
        return model.reassign(window, d.queues, now).window
    return model.reassign(window, None, now).window


def recheck_proposal(cfg: HallConfig, windows: Mapping[int, WindowState], d: Decision
                     ) -> Decision:
    """A proposal re-checked when confirmed: an open whose clerk is now at another window
    gets another free standby clerk (none free: unchanged, and ``apply_decision`` refuses)."""
    if d.action is not Action.OPEN or d.clerk is None:
        return d
    busy = frozenset(w.clerk for n, w in windows.items()
                     if w.clerk is not None and n != d.window)
    if d.clerk not in busy:
        return d
    other = standby_clerk(cfg, d.window, busy)
    if other is None:
        return d
    return replace(d, clerk=other,
                   reason_zh=f"{d.reason_zh}（{d.clerk}已在其他窗口，改由{other}上岗）",
                   reason_en=f"{d.reason_en} ({d.clerk} is at another window now; "
                             f"{other} instead)")
