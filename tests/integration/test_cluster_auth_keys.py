"""Auth keys of an older layout are moved once: accounts and devices are kept.

``hall.auth.tokens.migrate_legacy_keys`` (run at every app start) moves the keys of the
two earlier layouts (``auth:…``, then ``{auth}:…``) to the account's and the hall's slots
(``hall.auth.tokens``). Logins work on the old accounts and old device tokens keep
working; sessions of the old layout end (their tokens name no account).
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Principal, Role
from hall.auth.passwords import hash_password
from hall.auth.tokens import (
    DEVICE_HALL,
    LAYOUT,
    device_key,
    digest,
    migrate_legacy_keys,
    user_key,
)

PASSWORD = "correct horse battery"


@pytest.mark.parametrize("prefix", ["auth:", "{auth}:"])
async def test_older_auth_keys_are_moved_once(redis_url: str, prefix: str) -> None:
    aredis = AsyncRedis.from_url(redis_url)
    try:
        await _moved_once(aredis, prefix)
    finally:
        await aredis.aclose()


async def _moved_once(aredis: AsyncRedis, prefix: str) -> None:
    # the keys as the older layout wrote them (tokens of 256 random bits, no prefix)
    alice = Principal("alice", Role.CLERK, ("district",), "S01", "alice")
    kiosk = Principal("kiosk-1", Role.KIOSK, ("district",), display_name="kiosk-1")
    old_device, old_session = "Dv" * 21 + "x", "Ss" * 21 + "y"
    await aredis.hset(prefix + "user:alice", mapping={
        "principal": alice.to_json(), "password_hash": await hash_password(PASSWORD),
        "gen": "1", "disabled": "", "must_change": ""})
    await aredis.sadd(prefix + "users", "alice")
    await aredis.expire(prefix + "users", 3600)  # an expiry survives the move
    await aredis.hset(prefix + "device:" + digest(old_device), mapping={
        "principal": kiosk.to_json(), "created": "1.0", "expires": ""})
    await aredis.sadd(prefix + "devices", digest(old_device))
    await aredis.hset(prefix + "session:" + digest(old_session), mapping={
        "principal": alice.to_json(), "user": "alice", "created": "1e12", "seen": "1e12",
        "gen": "1"})
    await aredis.sadd(prefix + "user-sessions:alice", digest(old_session))
    await aredis.hset(prefix + "fail:user:alice", mapping={"n": "2", "last": "1.0"})

    moved = await migrate_legacy_keys(aredis)
    assert moved == 2 + (prefix == "auth:")  # account, device (+ the user list from auth:)
    left = [k async for k in aredis.scan_iter(match=prefix + "*")
            if not k.decode().startswith(("{auth}:users", "{auth}:layout", "{auth}:device-hall"))]
    assert left == []
    assert 3500 < await aredis.ttl("{auth}:users") <= 3600
    assert await aredis.exists(user_key("alice"), device_key("district", digest(old_device)))
    auth = AuthStore(aredis, require_second_factor=False)
    assert await auth.resolve(old_session) is None  # old sessions end: sign in again
    session, _ = await auth.login("alice", PASSWORD, address="127.0.0.1")
    assert session.startswith("s.") and (await auth.resolve(session)) is not None
    found = await auth.resolve(old_device)  # an old device token keeps working
    assert found is not None and found.name == "kiosk-1"
    [listed] = await auth.tokens.devices()
    assert listed["name"] == "kiosk-1" and listed["hall"] == "district"
    assert await migrate_legacy_keys(aredis) == 0  # done: one GET
    assert await aredis.get(LAYOUT) == b"3"
    # revoking the old token removes its hall pointer too
    assert await auth.tokens.revoke_device("kiosk-1") == [digest(old_device)[:12]]
    assert await auth.resolve(old_device) is None
    assert not await aredis.exists(DEVICE_HALL + digest(old_device))
