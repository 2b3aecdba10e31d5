"""How ticket and window records sit in Redis: one hash each (``ver``, ``json``; tickets
also ``status``), decoded here and written into a ``Txn`` under a version guard."""

from __future__ import annotations

import json
from typing import Any

from ticketing.commit import Txn, dumps
from ticketing.model import Ticket, WindowState


def ticket_from(raw: Any) -> Ticket:
    """A ticket from its hash's ``json`` field."""
    return Ticket.from_dict(json.loads(raw))


# Decoded windows by their stored JSON: every issue reads all of its hall's windows (for
# the estimate), which change far less often than tickets are issued. WindowState is frozen,
# so one decoded value can be shared; the table is emptied when it grows past the bound.
_WINDOWS: dict[Any, WindowState] = {}
_WINDOWS_BOUND = 50_000


def window_from(number: int, raw: Any) -> WindowState:
    """A window from its hash's ``json`` field; a window never written is closed."""
    if raw is None:
        return WindowState(number)
    found = _WINDOWS.get(raw)
    if found is None or found.number != number:
        found = WindowState.from_dict(json.loads(raw))
        if len(_WINDOWS) >= _WINDOWS_BOUND:
            _WINDOWS.clear()
        _WINDOWS[raw] = found
    return found


def put_ticket(txn: Txn, ticket: Ticket, ver: str) -> None:
    """Write a ticket, if its record is still at version ``ver``."""
    txn.put_versioned(txn.keys.ticket(ticket.id), ver, "status", ticket.status.value,
                      "json", dumps(ticket.to_dict()))


def put_window(txn: Txn, window: WindowState, ver: str) -> None:
    """Write a window's state, if its record is still at version ``ver``."""
    txn.put_versioned(txn.keys.window(window.number), ver, "json", dumps(window.to_dict()))
