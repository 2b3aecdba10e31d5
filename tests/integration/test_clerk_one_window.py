"""One clerk holds one window at a time, even when two logins race (the commit is
guarded by every window's version)."""

from __future__ import annotations

import asyncio

import pytest

from hall.errors import IllegalTransition
from ticketing import model
from ticketing.store import TicketStore

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the store fixture's loop


async def test_racing_logins_of_one_clerk_take_one_window(store: TicketStore) -> None:
    for _ in range(5):
        results = await asyncio.gather(
            *(store.login_window("district", n, "S01") for n in (1, 2, 3)),
            return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, IllegalTransition)]
        assert len(won) == 1 and len(lost) == 2, results
        windows = [await store.window("district", n) for n in (1, 2, 3)]
        assert [w.clerk for w in windows].count("S01") == 1
        held = next(w.number for w in windows if w.clerk == "S01")
        await store.change_window("district", held, model.logout, clerk="S01")
