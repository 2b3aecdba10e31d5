"""A commit whose answer was lost and that the client library resends (the same script
call, after a broken link) answers as applied: the same event id, nothing applied twice,
no Conflict (which the caller would have turned into an error or a second action)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from hall.events import EventType
from ticketing.commit import Committer, Conflict, Txn
from ticketing.keys import HallKeys

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the aredis fixture's loop


async def test_a_resent_commit_answers_as_applied(aredis: Redis) -> None:
    committer = Committer(aredis, lambda: 1_795_000_000.0)
    keys = HallKeys("district")
    record = "hall:{district}:test-record"
    txn = Txn(keys)
    txn.put_versioned(record, "", "json", "{}")
    spec = committer.spec(txn, EventType.WINDOW_CHANGED, {"window": {"number": 1}})
    first = await committer.send(txn, spec)
    again = await committer.send(txn, spec)  # the same call, as the retry resends it
    assert again == first
    assert await aredis.hget(record, "ver") == b"1"  # applied once
    assert await aredis.xlen(keys.events) == 1
    other = Txn(keys)  # a new step on the old version is still a conflict
    other.put_versioned(record, "", "json", "{}")
    with pytest.raises(Conflict):
        await committer.commit(other, EventType.WINDOW_CHANGED, {})
