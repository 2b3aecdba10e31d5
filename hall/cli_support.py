"""What every ``hall`` command shares: settings from flags, the Redis to use, clean failures.

Package commands (``ticketing/cli.py``, ``tide/cli.py``) stand on this module, never on
``hall.cli`` (the composition root that registers them).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from redis.asyncio import Redis

from hall.redis_conn import async_client
from hall.settings import Settings

T = TypeVar("T")


class CliError(Exception):
    """Bad input to a command: printed as one line on stderr, exit status 2, no traceback."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings, with ``--data`` when the command has it."""
    data = getattr(args, "data", None)
    return Settings.from_env(data_dir=Path(data) if data else None)


@contextmanager
def redis_url_for(settings: Settings) -> Iterator[str]:
    """REDIS_URL when set ("" with Sentinel or Cluster); else the data folder's embedded one."""
    if settings.external_redis:
        yield settings.redis_url or ""
        return
    from hall.redis_server import EmbeddedRedis

    embedded = EmbeddedRedis(settings.data_dir)
    url = embedded.start()
    try:
        yield url
    finally:
        embedded.stop()


async def _with_client(settings: Settings, url: str,
                       action: Callable[[Redis], Awaitable[T]]) -> T:
    client = async_client(settings, url or None)  # Sentinel, password, retries: redis_conn
    try:
        return await action(client)
    finally:
        await client.aclose()


def with_redis(settings: Settings, action: Callable[[Redis], Awaitable[T]]) -> T:
    """Run ``action(client)`` on the configured Redis (or the embedded one) and close it."""
    import asyncio

    with redis_url_for(settings) as url:
        return asyncio.run(_with_client(settings, url, action))
