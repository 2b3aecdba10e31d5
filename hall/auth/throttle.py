"""Login throttling: per account and per source address, growing delays then a lock.

    account:{a:<tag>}:fail:<username>   hash  n (failures in a row), last (time of the last one)
    login:{addr:<tag>}:fail:<address>   hash  the same for one source address

Each counter has a slot of its own (its account's, ``hall.auth.tokens.failures_key``, and
8 hex digits of the address's SHA-256), so on a Redis Cluster no shard is needed by
every login.

After ``FREE_FAILURES`` failures in a row, the next attempt must wait ``2^(n-free)``
seconds (capped at ``MAX_DELAY``) after the last failure; after ``LOCK_AFTER`` failures
the key is locked for ``LOCK_SECONDS``. An attempt too early answers 429
``too_many_attempts`` with the wait, checks no password and counts nothing. A success
clears the account's counter (an address's counter clears when it stops failing for
``LOCK_SECONDS``). Times come from the app's clock, so tests move them by hand.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from hall.auth.tokens import failures_key
from hall.errors import DomainError


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Limits:
    free_failures: int
    lock_after: int
    max_delay: float = 60.0
    lock_seconds: float = 15 * 60.0

    def wait(self, failures: int) -> float:
        """Seconds after the last failure before the next attempt is heard."""
        if failures >= self.lock_after:
            return self.lock_seconds
        if failures < self.free_failures:
            return 0.0
        return float(min(self.max_delay, 2 ** (failures - self.free_failures)))


ACCOUNT = Limits(free_failures=3, lock_after=10)
ADDRESS = Limits(free_failures=10, lock_after=50)


class Throttle:
    def __init__(self, redis: Redis, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.clock = clock

    def _keys(self, username: str, address: str) -> list[tuple[str, Limits]]:
        tag = hashlib.sha256(address.encode()).hexdigest()[:8]
        return [(failures_key(username), ACCOUNT),
                (f"login:{{addr:{tag}}}:fail:{address}", ADDRESS)]

    async def check(self, username: str, address: str) -> None:
        """Raise ``TooManyAttempts`` if this account or address must wait now."""
        now = self.clock()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, _ in self._keys(username, address):
                pipe.hmget(key, ["n", "last"])
            rows = await pipe.execute()
        served = []
        for (key, limits), (n, last) in zip(self._keys(username, address), rows, strict=True):
            if n is None or last is None:
                continue
            if now - float(last) >= limits.lock_seconds:
                served.append(key)  # quiet (or locked) long enough: start counting afresh
                continue
            failures, wait = int(n), limits.wait(int(n))
            remaining = float(last) + wait - now
            if remaining > 0:
                what = "this address" if key.startswith("login:") else "this account"
                locked = failures >= limits.lock_after
                raise TooManyAttempts(
                    f"too many failed logins for {what}; "
                    + ("it is locked" if locked else "wait")
                    + f" for {math.ceil(remaining)} s", remaining)
        if served:
            await self.redis.delete(*served)

    async def failed(self, username: str, address: str) -> None:
        now = self.clock()
        for key, limits in self._keys(username, address):  # two slots: one MULTI each
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "n", 1)
                pipe.hset(key, "last", repr(now))
                pipe.expire(key, int(limits.lock_seconds) + 3600)  # backstop in real time
                await pipe.execute()

    async def succeeded(self, username: str) -> None:
        await self.redis.delete(failures_key(username))
