"""Auth keys moved under the ``{auth}`` hash tag: a Redis written before keeps its accounts.

``hall.auth.tokens.migrate_legacy_keys`` (run at every app start) renames ``auth:…`` to
``{auth}:…`` once, keeping expiries; then logins work on the old accounts.
"""

from __future__ import annotations

from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from hall.auth.tokens import migrate_legacy_keys


async def test_legacy_auth_keys_are_renamed_once(redis_url: str) -> None:
    aredis = AsyncRedis.from_url(redis_url)
    try:
        await _renamed_once(aredis)
    finally:
        await aredis.aclose()


async def _renamed_once(aredis: AsyncRedis) -> None:
    auth = AuthStore(aredis, require_second_factor=False)
    await auth.add_user("alice", "correct horse battery", Role.CLERK, ("district",), "S01")
    token = await auth.add_device(Role.KIOSK, "district", "kiosk-1")
    # written as a version before the tag did: every {auth}:x renamed back to auth:x
    tagged = [k.decode() async for k in aredis.scan_iter(match="{auth}:*")]
    assert tagged
    for key in tagged:
        await aredis.rename(key, "auth:" + key[len("{auth}:"):])
    await aredis.expire("auth:users", 3600)  # an expiry survives the move

    assert await migrate_legacy_keys(aredis) == len(tagged)
    assert [k async for k in aredis.scan_iter(match="auth:*")] == []
    assert 3500 < await aredis.ttl("{auth}:users") <= 3600
    session, _ = await auth.login("alice", "correct horse battery", address="127.0.0.1")
    assert (await auth.resolve(session)) is not None
    assert (await auth.resolve(token)) is not None
    assert await migrate_legacy_keys(aredis) == 0  # nothing left: one EXISTS
