"""hall/autopipeline.py on a real Redis: concurrent calls share trips, each keeps its own
answer or error, a server that lost its scripts is handled, a lone call goes direct."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ResponseError

from hall import autopipeline
from hall.autopipeline import run_command, run_script

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the aredis fixture's loop

COUNTER = """
local n = redis.call('INCR', KEYS[1])
if ARGV[1] == 'fail' then return redis.error_reply('REFUSED') end
return n
"""


def batcher(client: AsyncRedis) -> autopipeline.AutoPipeline:
    found = getattr(client, autopipeline._ATTRIBUTE, None)
    assert found is not None
    return found


async def test_concurrent_scripts_share_trips_and_keep_their_own_answers(
        aredis: AsyncRedis) -> None:
    script = aredis.register_script(COUNTER)
    await run_script(aredis, script, ["c"], ["ok"])  # loads the script (a lone call)
    answers = await asyncio.gather(
        *(run_script(aredis, script, ["c"], ["fail" if i % 10 == 3 else "ok"])
          for i in range(200)), return_exceptions=True)
    errors = [a for a in answers if isinstance(a, Exception)]
    assert len(errors) == 20
    assert all(isinstance(e, ResponseError) and "REFUSED" in str(e) for e in errors)
    numbers = sorted(a for a in answers if isinstance(a, int))
    # every script ran once, atomically, in the order sent: counts 2..201, none twice
    assert len(numbers) == 180 and len(set(numbers)) == 180
    assert int(await aredis.get("c")) == 201
    b = batcher(aredis)
    assert b.calls == 201 and b.batches < 20  # shared trips, not one per call


async def test_a_server_that_lost_its_scripts_runs_them_again(aredis: AsyncRedis) -> None:
    script = aredis.register_script(COUNTER)
    await run_script(aredis, script, ["c"], ["ok"])
    await aredis.script_flush()
    answers = await asyncio.gather(*(run_script(aredis, script, ["c"], ["ok"])
                                     for _ in range(50)))
    assert sorted(answers) == list(range(2, 52))


async def test_commands_batch_with_scripts(aredis: AsyncRedis) -> None:
    script = aredis.register_script(COUNTER)
    await run_script(aredis, script, ["c"], ["ok"])
    answers = await asyncio.gather(run_script(aredis, script, ["c"], ["ok"]),
                                   run_command(aredis, "HSETNX", "h", "f", "1"),
                                   run_command(aredis, "HSETNX", "h", "f", "2"))
    assert answers == [2, 1, 0]
    assert await aredis.hget("h", "f") == b"1"


async def test_a_broken_link_fails_every_call_of_the_batch(redis_url: str) -> None:
    client = AsyncRedis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017 - redis-py's connection error
        await asyncio.gather(*(run_command(client, "PING") for _ in range(5)))
    await client.aclose()
