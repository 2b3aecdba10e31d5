"""Commands of concurrent requests sent to Redis together: one write and one read per batch.

Each ``await client.evalsha(...)`` through redis-py's asyncio client costs ~80 µs of CPU
(connection pool, retry and timeout wrappers, one ``write`` syscall, one read) — more than
the rest of a ticket issue. Under load many requests of one process wait on Redis at the
same moment, so ``run_script`` and ``run_command`` queue each call and send everything
queued in one event-loop turn as ONE pipeline (not a transaction: each script or command
stays atomic by itself, as when sent alone; only the trip is shared). A lone call goes
straight to the client, so an idle process pays nothing extra. Measured on this machine
(benchmarks/bench_throughput.py, RESULTS.md): about a third of the client CPU per command
at 32 concurrent requests.

Scripts run by ``EVALSHA``; a server that lost its scripts (restart, failover) answers
``NOSCRIPT`` and those calls are rerun alone, which loads the script. Redis Cluster clients
are not batched (a pipeline there splits by node; the direct call keeps its routing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

_Call = tuple[Callable[[Any], Any], Callable[[], Any], "asyncio.Future[Any]"]


class AutoPipeline:
    """The batcher of one client in one event loop."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.loop = asyncio.get_running_loop()
        self._pending: list[_Call] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.calls = 0

    def submit(self, queue: Callable[[Any], Any], alone: Callable[[], Any]) -> asyncio.Future[Any]:
        """``queue(pipe)`` adds the call to a pipeline; ``alone()`` runs it by itself."""
        future = self.loop.create_future()
        self._pending.append((queue, alone, future))
        if len(self._pending) == 1:
            self.loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = self.loop.create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Call]) -> None:
        self.batches += 1
        self.calls += len(batch)
        if len(batch) == 1:
            await _settle(batch[0][2], batch[0][1])
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for queue, _, _ in batch:
                    queue(pipe)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception)
                                         else ConnectionError("pipeline cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, alone, future), result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):
                await _settle(future, alone)  # loads the script, then runs it
            elif future.done():
                continue
            elif isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)


async def _settle(future: asyncio.Future[Any], alone: Callable[[], Any]) -> None:
    try:
        result = await alone()
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)


_ATTRIBUTE = "_hall_autopipeline"  # the client's batcher, kept on the client itself


def _batcher(client: Redis) -> AutoPipeline | None:
    found: AutoPipeline | None = getattr(client, _ATTRIBUTE, None)
    if found is not None and found.loop is asyncio.get_running_loop():
        return found
    if not isinstance(client, Redis):  # a cluster client: no batching
        return None
    found = AutoPipeline(client)
    setattr(client, _ATTRIBUTE, found)
    return found


async def run_script(client: Redis, script: AsyncScript, keys: Sequence[Any],
                     args: Sequence[Any]) -> Any:
    """``await script(keys=keys, args=args, client=client)``, batched with concurrent calls."""
    batcher = _batcher(client)
    if batcher is None:
        return await script(keys=list(keys), args=list(args), client=client)
    return await batcher.submit(
        lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args),
        lambda: script(keys=list(keys), args=list(args), client=client))


async def run_command(client: Redis, *args: Any) -> Any:
    """``await client.execute_command(*args)``, batched with concurrent calls."""
    batcher = _batcher(client)
    if batcher is None:
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]
    return await batcher.submit(
        lambda pipe: pipe.execute_command(*args),
        lambda: client.execute_command(*args))  # type: ignore[no-untyped-call]
