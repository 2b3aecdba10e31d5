"""The hub reads only watched halls, many per command, and forgets a hall nobody watches."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from displays import hub as hub_module
from displays.hub import Hub
from ticketing.model import Channel
from ticketing.store import TicketStore

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the aredis fixture's loop


async def next_event(sub: hub_module.Subscriber, timeout: float = 10.0) -> str:
    delivery = await asyncio.wait_for(sub.queue.get(), timeout)
    return delivery.event.type.value


async def test_watched_halls_share_one_reader_woken_for_a_new_hall(
        aredis: Redis, store: TicketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read blocks for a minute: only the wake stream can bring a new hall in at once.
    monkeypatch.setattr(hub_module, "BLOCK_MS", 60_000)
    hub = Hub(aredis, store.halls)
    try:
        assert hub.status()["readers"] == 0  # nobody watches: nothing runs
        district = await hub.subscribe("district")
        await asyncio.sleep(0.1)  # let the reader block on district alone
        town = await hub.subscribe("town")
        assert hub.status()["readers"] == 1 and set(hub.status()["halls"]) == {"district",
                                                                               "town"}
        await store.issue("town", "SB-CB", Channel.KIOSK)
        assert await next_event(town) == "ticket.issued"
        await store.issue("district", "QY-KB", Channel.KIOSK)
        assert await next_event(district) == "ticket.issued"
        assert district.queue.empty() and town.queue.empty()
        # the last socket of a hall goes: the batch forgets it at its next read
        hub.unsubscribe(town)
        await store.issue("district", "QY-KB", Channel.KIOSK)
        assert await next_event(district) == "ticket.issued"
        assert "town" not in hub.status()["halls"]
        hub.unsubscribe(district)
        await store.issue("district", "QY-KB", Channel.KIOSK)  # wakes the read once more
        deadline = asyncio.get_running_loop().time() + 10
        while hub.batches:
            assert asyncio.get_running_loop().time() < deadline, "the reader never ended"
            await asyncio.sleep(0.02)
        assert hub.status()["halls"] == {}
        assert hub.readers_alive()  # an ended batch is not a dead reader …
        again = await hub.subscribe("district")  # … and a new socket starts a new one
        await store.issue("district", "QY-KB", Channel.KIOSK)
        assert await next_event(again) == "ticket.issued"
        assert hub.status()["readers"] == 1
    finally:
        await hub.stop()
