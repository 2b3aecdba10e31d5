"""Build Redis clients from settings: one URL, or a primary found through Sentinel.

Every process (``hall serve``, ``hall worker``, the CLI) gets its clients here, so
reconnection and failover behave the same everywhere:

* With ``REDIS_SENTINELS`` the client asks the sentinels for the current primary of
  ``REDIS_SENTINEL_MASTER`` each time it opens a connection. After a failover the old
  connections fail (or answer READONLY, which redis-py turns into a reconnect), and
  the next connection goes to the promoted replica.
* Commands that fail on a broken connection are retried a few times with a short
  exponential backoff; whatever still fails reaches the caller, and the app turns it
  into a 503 ``store_unavailable`` (never a 500).

The write guarantee (``REDIS_WAIT_REPLICAS``) is applied by ``run_durable``: the
state-changing script and a ``WAIT`` travel on one connection, so the WAIT counts
the replicas that hold *that* write. See docs/DEPLOY.md for the exact guarantee.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from hall.autopipeline import run_script
from hall.errors import DomainError
from hall.settings import Settings

log = logging.getLogger("hall.redis")

RETRIES = 3
CONNECT_TIMEOUT = 2.0
POOL_SIZE = 200  # Redis connections per app process (asyncio clients)
POOL_WAIT = 5.0  # how long a request waits for a free one in a burst
RETRY_ERRORS: list[type[RedisError]] = [RedisConnectionError, RedisTimeoutError]
DEFAULT_URL = "redis://127.0.0.1:6379/0"


class NotReplicated(DomainError):
    """The write reached the primary but no replica confirmed it in time."""

    status = 503
    code = "not_replicated"


def _retry(asyncio: bool) -> Retry | AsyncRetry:
    """redis-py's retry for the client kind: an asyncio client needs the asyncio ``Retry``.

    Given the blocking ``Retry``, an asyncio client never retried: its
    ``call_with_retry`` returned the coroutine unawaited, so the first await raised, and
    after a Redis restart every stale pooled connection failed one request with a 503
    (for ~17 s under load) although Redis was back. With the right one a stale
    connection is dropped, reconnected and the command resent, within ``RETRIES``.
    """
    kind = AsyncRetry if asyncio else Retry
    return kind(ExponentialBackoff(cap=0.5, base=0.05), RETRIES,
                supported_errors=tuple(RETRY_ERRORS))


def _common(settings: Settings, asyncio: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"retry": _retry(asyncio), "retry_on_error": RETRY_ERRORS,
                               "socket_connect_timeout": CONNECT_TIMEOUT}
    if settings.redis_password:
        options["password"] = settings.redis_password
    return options


def _sentinel_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": CONNECT_TIMEOUT,
                               "socket_connect_timeout": CONNECT_TIMEOUT}
    if settings.redis_sentinel_password:
        options["password"] = settings.redis_sentinel_password
    return options


def async_client(settings: Settings, url: str | None = None) -> redis.asyncio.Redis:
    """An asyncio client: Sentinel-managed when sentinels are configured, else by URL."""
    if settings.redis_sentinels:
        factory: Any = AsyncSentinel  # redis-py leaves Sentinel untyped
        sentinel = factory(list(settings.redis_sentinels),
                           sentinel_kwargs=_sentinel_options(settings))
        return cast(redis.asyncio.Redis,
                    sentinel.master_for(settings.redis_sentinel_master,
                                        **_common(settings, asyncio=True)))
    # A bounded pool that makes a burst wait for a free connection (up to POOL_WAIT s)
    # instead of failing: redis-py's plain pool raises "Too many connections" beyond 100.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url or settings.redis_url or DEFAULT_URL, max_connections=POOL_SIZE,
        timeout=POOL_WAIT, **_common(settings, asyncio=True))
    return redis.asyncio.Redis.from_pool(pool)


def sync_client(settings: Settings, url: str | None = None) -> redis.Redis:
    """A blocking client (RQ workers, CLI), built the same way as ``async_client``."""
    if settings.redis_sentinels:
        factory: Any = Sentinel
        sentinel = factory(list(settings.redis_sentinels),
                           sentinel_kwargs=_sentinel_options(settings))
        return cast(redis.Redis,
                    sentinel.master_for(settings.redis_sentinel_master,
                                        **_common(settings, asyncio=False)))
    return redis.Redis.from_url(url or settings.redis_url or DEFAULT_URL,
                                **_common(settings, asyncio=False))


def describe(settings: Settings) -> str:
    """Where the clients connect, without secrets (for logs and /readyz)."""
    if settings.redis_sentinels:
        hosts = ",".join(f"{h}:{p}" for h, p in settings.redis_sentinels)
        return f"sentinel://{hosts}/{settings.redis_sentinel_master}"
    url = settings.redis_url or DEFAULT_URL
    if "@" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


class WritePolicy:
    """How many replicas must confirm a state change before it is acknowledged."""

    def __init__(self, replicas: int = 0, timeout_ms: int = 500) -> None:
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.unreplicated = 0  # writes accepted with no replica connected (degraded)

    @classmethod
    def from_settings(cls, settings: Settings) -> WritePolicy:
        return cls(settings.redis_wait_replicas, settings.redis_wait_timeout_ms)

    async def run(self, client: redis.asyncio.Redis, script: Any,
                  keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a state-changing script; with replicas > 0, WAIT for them on the same link."""
        if self.replicas <= 0:  # shares its trip with concurrent calls (hall/autopipeline.py)
            return await run_script(client, script, keys, args)
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=list(keys), args=list(args), client=pipe)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            result, acked = await pipe.execute(raise_on_error=False)
        if isinstance(result, Exception):
            raise result
        if isinstance(acked, Exception) or int(acked) < self.replicas:
            await self._shortfall(client, acked)
        return result

    async def _shortfall(self, client: redis.asyncio.Redis, acked: Any) -> None:
        # No replica connected means no failover can promote a node without this write
        # (it is in the primary's AOF); accept it, degraded, and say so. A connected
        # replica that did not confirm in time means the write may be lost on failover.
        info = await client.info("replication")
        if int(info.get("connected_slaves", 0)) == 0:
            self.unreplicated += 1
            log.warning("write accepted without a replica (none connected)",
                        extra={"event": "redis.unreplicated"})
            return
        raise NotReplicated(
            f"saved on the primary but only {acked} of {self.replicas} replica(s) confirmed "
            f"within {self.timeout_ms} ms; check before retrying")
