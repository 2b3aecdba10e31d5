"""Build Redis clients from settings: one URL, a primary found through Sentinel, or a Cluster.

Every process (``hall serve``, ``hall worker``, the CLI) gets its clients here, so
reconnection and failover behave the same everywhere:

* With ``REDIS_SENTINELS`` the client asks the sentinels for the current primary of
  ``REDIS_SENTINEL_MASTER`` each time it opens a connection. After a failover the old
  connections fail (or answer READONLY, which redis-py turns into a reconnect), and
  the next connection goes to the promoted replica.
* Commands that fail on a broken connection are retried a few times with a short
  exponential backoff; whatever still fails reaches the caller, and the app turns it
  into a 503 ``store_unavailable`` (never a 500).

* With ``REDIS_CLUSTER_NODES`` the clients are redis-py's cluster clients
  (``redis.cluster.RedisCluster``, ``redis.asyncio.cluster.RedisCluster``): each command
  goes to the primary serving its key's slot; after a failover the client re-reads the
  slot map (MOVED, or a refused connection) and retries. Every multi-key script and
  transaction keeps to one hash tag (a hall's ``{<hall>}``, an account's, RQ's prefix), so
  none can cross slots. RQ is not cluster-aware (it WATCHes in pipelines, which
  redis-py's cluster pipeline refuses), so ``jobs_client`` gives it a plain client to
  the primary serving RQ's one slot (``RQ_KEY_PREFIX={rq}``), found again at each
  connect (``SlotOwnerConnection``).

The write guarantee (``REDIS_WAIT_REPLICAS``) is applied by ``run_durable``: the
state-changing script and a ``WAIT`` travel on one connection, so the WAIT counts
the replicas that hold *that* write. See docs/DEPLOY.md for the exact guarantee.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.cluster as async_cluster
import redis.cluster
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
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
CLUSTER_NODE_POOL = 1000  # connections per cluster node (blocking stream reads hold one each)
REFRESH_GAP = 0.25  # seconds between two slot-map refreshes asked by the write policy
CLUSTER_SOCKET_TIMEOUT = 5.0  # above every XREAD BLOCK; a silent dead node is given up after it
RETRY_ERRORS: list[type[RedisError]] = [RedisConnectionError, RedisTimeoutError]
# a cluster's moved slot or failover in progress: read the slot map again and resend
RETRY_ERRORS_CLUSTER = (RedisConnectionError, RedisTimeoutError, MovedError, AskError,
                        ClusterDownError, OSError)
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


def _cluster_options(settings: Settings, asyncio: bool) -> dict[str, Any]:
    # a shard failing over must not stop the halls of the others (docs/DEPLOY.md: nodes
    # run with cluster-require-full-coverage no)
    return {**_common(settings, asyncio), "socket_timeout": CLUSTER_SOCKET_TIMEOUT,
            "require_full_coverage": False}


class _CommandTableOnce(AsyncCommandsParser):
    """redis-py's async cluster client re-reads the COMMAND table from its *default* node
    each time it re-reads the slot map (after any connection error). When that node is
    the primary just killed, every command of every hall failed until the failover was
    over; the table does not change with the topology, so it is read once.

    The node it asks ``COMMAND GETKEYS`` (for commands whose keys move, such as
    XREADGROUP) still follows each new slot map: keeping the first one kept a dead node
    after a failover, and every stream read of every hall failed for good. The streams'
    reads name their keys after ``STREAMS``, found here without asking any node."""

    async def initialize(self, node: Any = None) -> None:
        if node is not None:
            self.node = node
        if not self.commands:
            await super().initialize(node)

    async def _get_moveable_keys(self, *args: Any) -> Any:
        words = [a.decode() if isinstance(a, bytes) else str(a) for a in args]
        if words[0].upper() in ("XREAD", "XREADGROUP"):
            upper = [w.upper() for w in words]
            if "STREAMS" in upper:
                rest = args[upper.index("STREAMS") + 1:]
                return tuple(rest[: len(rest) // 2])
        return await super()._get_moveable_keys(*args)


# redis-py 8.1's async cluster client can disconnect a pooled link during a topology
# refresh while another task is connecting or sending on it; that task then fails with
# AttributeError ('NoneType' object has no attribute 'writelines') or, under uvloop,
# RuntimeError ('unable to perform operation on <TCPTransport closed=True …>'). Seen
# only while a node fails over; retried like a broken link.
LINK_RACE: tuple[type[Exception], ...] = (AttributeError, RuntimeError)


RETRY_OR_RACE: tuple[type[Exception], ...] = (*RETRY_ERRORS_CLUSTER, *LINK_RACE)


class _HallCluster(async_cluster.RedisCluster):
    ERRORS_ALLOW_RETRY = (*async_cluster.RedisCluster.ERRORS_ALLOW_RETRY,  # type: ignore[assignment]
                          *LINK_RACE)


def async_client(settings: Settings, url: str | None = None) -> redis.asyncio.Redis:
    """An asyncio client: a Cluster's, Sentinel-managed, else by URL.

    The cluster client is typed as ``redis.asyncio.Redis`` for its callers: it answers
    the same commands, pipelines and scripts for keys of one slot."""
    if settings.redis_cluster_nodes:
        nodes = [async_cluster.ClusterNode(h, p) for h, p in settings.redis_cluster_nodes]
        client = _HallCluster(startup_nodes=nodes, max_connections=CLUSTER_NODE_POOL,
                              **_cluster_options(settings, asyncio=True))
        client.commands_parser = _CommandTableOnce()
        return cast(redis.asyncio.Redis, client)
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
    """A blocking client (CLI, jobs reading halls), built the same way as ``async_client``.

    RQ's own connection is ``jobs_client``."""
    if settings.redis_cluster_nodes:
        node: Any = redis.cluster.ClusterNode  # untyped in redis-py
        nodes = [node(h, p) for h, p in settings.redis_cluster_nodes]
        return cast(redis.Redis, redis.cluster.RedisCluster(
            startup_nodes=nodes, **_cluster_options(settings, asyncio=False)))
    if settings.redis_sentinels:
        factory: Any = Sentinel
        sentinel = factory(list(settings.redis_sentinels),
                           sentinel_kwargs=_sentinel_options(settings))
        return cast(redis.Redis,
                    sentinel.master_for(settings.redis_sentinel_master,
                                        **_common(settings, asyncio=False)))
    return redis.Redis.from_url(url or settings.redis_url or DEFAULT_URL,
                                **_common(settings, asyncio=False))


def slot_owner(seeds: Sequence[tuple[str, int]], slot: int,
               password: str | None = None) -> tuple[str, int]:
    """The primary serving ``slot`` now, asked of the first seed node that answers."""
    failure: Exception | None = None
    for host, port in seeds:
        probe: Any = redis.Redis(host=host, port=port, password=password,
                            socket_timeout=CONNECT_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT)
        try:
            ranges: Any = probe.execute_command("CLUSTER SLOTS")
        except RedisError as exc:
            failure = exc
            continue
        finally:
            probe.close()
        for (start, end), where in _slot_ranges(ranges):
            if start <= slot <= end:
                return where
    raise RedisConnectionError(f"no cluster node names the owner of slot {slot}: {failure}")


def _slot_ranges(raw: Any) -> list[tuple[tuple[int, int], tuple[str, int]]]:
    """CLUSTER SLOTS as redis-py parses it ({(start, end): {"primary": (host, port)}}) or raw."""
    if isinstance(raw, dict):
        return [((int(a), int(b)), (str(v["primary"][0]), int(v["primary"][1])))
                for (a, b), v in raw.items()]
    return [((int(r[0]), int(r[1])), (r[2][0].decode() if isinstance(r[2][0], bytes)
                                      else str(r[2][0]), int(r[2][1]))) for r in raw]


class SlotOwnerConnection(redis.Connection):
    """A connection to whichever primary serves one slot: looked up at every connect.

    A MOVED answer (the slot changed hands while this link was open) or CLUSTERDOWN /
    TRYAGAIN (a failover under way) drops the link and raises a connection error, so
    redis-py's retry (and RQ's, around its dequeue) reconnects to the owner then."""

    def __init__(self, *, cluster_seeds: Sequence[tuple[str, int]], slot: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.cluster_seeds = tuple(cluster_seeds)
        self.slot = slot

    def _connect(self) -> Any:
        # the lowest step of every (re)connect: redis-py reconnects a dropped link from
        # ``send_packed_command`` through ``connect_check_health``, not ``connect``; an
        # override of ``connect`` kept the dead primary's address after a failover, and
        # every enqueue failed until the process restarted
        self.host, self.port = slot_owner(self.cluster_seeds, self.slot, self.password)
        return super()._connect()  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except (MovedError, ClusterDownError, TryAgainError) as exc:
            self.disconnect()  # type: ignore[no-untyped-call]
            raise RedisConnectionError(f"slot {self.slot} unavailable here: {exc}") from exc


def rq_slot() -> int:
    """The one slot of RQ's keys: its prefix (``RQ_KEY_PREFIX``, read by rq) has a hash tag."""
    from rq.defaults import RQ_KEY_PREFIX

    start, end = RQ_KEY_PREFIX.find("{"), RQ_KEY_PREFIX.find("}")
    if start < 0 or end <= start + 1:
        raise RuntimeError(f"RQ_KEY_PREFIX {RQ_KEY_PREFIX!r} has no hash tag: RQ's keys would "
                           "spread over the cluster's slots (set RQ_KEY_PREFIX={rq})")
    return key_slot(RQ_KEY_PREFIX.encode())


def jobs_client(settings: Settings, url: str | None = None) -> redis.Redis:
    """RQ's connection (enqueue and ``hall worker``). Without a cluster: ``sync_client``.

    On a cluster: a plain client whose connections go to the primary serving RQ's slot
    (``SlotOwnerConnection``); jobs that read halls use ``sync_client`` themselves."""
    if not settings.redis_cluster_nodes:
        return sync_client(settings, url)
    pool = redis.ConnectionPool(connection_class=SlotOwnerConnection,
                                cluster_seeds=settings.redis_cluster_nodes, slot=rq_slot(),
                                socket_timeout=None, **_common(settings, asyncio=False))
    return redis.Redis(connection_pool=pool)


_job_clients: dict[tuple[tuple[str, int], ...], redis.Redis] = {}


def job_data_client(settings: Settings, job_connection: redis.Redis) -> redis.Redis:
    """The client a job running in a worker uses for halls' keys: the worker's own
    connection, except on a cluster, where that one reaches RQ's slot only: then one
    cluster client per worker process."""
    if not settings.redis_cluster_nodes:
        return job_connection
    client = _job_clients.get(settings.redis_cluster_nodes)
    if client is None:
        client = _job_clients[settings.redis_cluster_nodes] = sync_client(settings)
    return client


def describe(settings: Settings) -> str:
    """Where the clients connect, without secrets (for logs and /readyz)."""
    if settings.redis_cluster_nodes:
        return "cluster://" + ",".join(f"{h}:{p}" for h, p in settings.redis_cluster_nodes)
    if settings.redis_sentinels:
        hosts = ",".join(f"{h}:{p}" for h, p in settings.redis_sentinels)
        return f"sentinel://{hosts}/{settings.redis_sentinel_master}"
    url = settings.redis_url or DEFAULT_URL
    if "@" in url:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def _refresh(client: async_cluster.RedisCluster) -> None:
    """Read the cluster's slot map again, as redis-py does after a connection error: flag
    it and let ``initialize`` do it once under the client's lock (concurrent requests
    meeting the same dead node share one refresh). A node that cannot answer yet is no
    error here: the caller retries."""
    client._initialize = True  # redis-py's own flag for "re-read the slot map"
    try:
        await client.initialize()
    except (RedisError, RedisClusterException) as exc:
        log.warning("cluster slot map not refreshed: %s", exc)


class WritePolicy:
    """How many replicas must confirm a state change before it is acknowledged."""

    def __init__(self, replicas: int = 0, timeout_ms: int = 500) -> None:
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self.unreplicated = 0  # writes accepted with no replica connected (degraded)
        self._refreshed_at = -1e9  # when the cluster's slot map was last re-read (loop time)

    @classmethod
    def from_settings(cls, settings: Settings) -> WritePolicy:
        return cls(settings.redis_wait_replicas, settings.redis_wait_timeout_ms)

    async def run(self, client: redis.asyncio.Redis, script: Any,
                  keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a state-changing script; with replicas > 0, WAIT for them on the same link."""
        if self.replicas <= 0:  # shares its trip with concurrent calls (hall/autopipeline.py)
            return await run_script(client, script, keys, args)
        if isinstance(client, async_cluster.RedisCluster):
            return await self._run_on_slot(client, script, keys, args)
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=list(keys), args=list(args), client=pipe)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            result, acked = await pipe.execute(raise_on_error=False)
        if isinstance(result, Exception):
            raise result
        if isinstance(acked, Exception) or int(acked) < self.replicas:
            await self._shortfall(client, acked)
        return result

    async def _run_on_slot(self, client: async_cluster.RedisCluster, script: Any,
                           keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The cluster's form of ``run``: EVALSHA and WAIT written together on one link to
        the primary of the keys' slot (redis-py's cluster pipeline refuses scripts and
        could send a key-less WAIT elsewhere). A link that broke before both answers came,
        a moved slot, a node down or a script unknown to a promoted replica → both are
        resent, the slot map read again when the topology may have changed (a resent
        script is safe: ``ticketing.commit`` and ``issue.lua`` are idempotent per step)."""
        failure: Exception | None = None
        attempt, loads = -1, 0
        while attempt < RETRIES:
            attempt += 1
            if attempt:
                await asyncio.sleep(min(0.5, 0.05 * 2 ** attempt))
            node = client.get_node_from_key(keys[0])
            if node is None:  # the slot has no primary at this moment (failover)
                failure = ClusterDownError(f"no primary serves {keys[0]}")
                await self._refresh(client)
                continue
            commands = [async_cluster.PipelineCommand(0, "EVALSHA", script.sha, len(keys),
                                                      *keys, *args),
                        async_cluster.PipelineCommand(1, "WAIT", self.replicas, self.timeout_ms)]
            try:
                await node.execute_pipeline(commands)
                result, acked = commands[0].result, commands[1].result
                if isinstance(result, NoScriptError) and loads < RETRIES:
                    # a promoted replica has no script cache: load it there, resend at once
                    await node.execute_command("SCRIPT", "LOAD", script.script)
                    loads += 1
                    attempt -= 1
                    continue
                for answer in (result, acked):
                    if isinstance(answer, RETRY_ERRORS_CLUSTER):
                        raise answer
                if isinstance(result, Exception):
                    raise result
                if isinstance(acked, Exception) or int(acked) < self.replicas:
                    info = await node.execute_command("INFO", "replication")
                    await self._judge(info, acked)
                return result
            except RETRY_OR_RACE as exc:
                failure = exc
                # a moved slot or a failover: at once; a broken link: when it fails again
                if attempt or not isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
                    await self._refresh(client)
        assert failure is not None
        raise failure

    async def _refresh(self, client: async_cluster.RedisCluster) -> None:
        # every refresh makes redis-py recycle all pooled links, so many requests meeting
        # the same dead node share one refresh per REFRESH_GAP
        now = asyncio.get_running_loop().time()
        if now - self._refreshed_at >= REFRESH_GAP:
            self._refreshed_at = now
            await _refresh(client)

    async def _shortfall(self, client: redis.asyncio.Redis, acked: Any) -> None:
        await self._judge(await client.info("replication"), acked)

    async def _judge(self, info: Any, acked: Any) -> None:
        # No replica connected means no failover can promote a node without this write
        # (it is in the primary's AOF); accept it, degraded, and say so. A connected
        # replica that did not confirm in time means the write may be lost on failover.
        if int(info.get("connected_slaves", 0)) == 0:
            self.unreplicated += 1
            log.warning("write accepted without a replica (none connected)",
                        extra={"event": "redis.unreplicated"})
            return
        raise NotReplicated(
            f"saved on the primary but only {acked} of {self.replicas} replica(s) confirmed "
            f"within {self.timeout_ms} ms; check before retrying")
