"""Reading many halls' keys in few commands: XREAD / XREADGROUP over many streams, and
one read-only command over many keys (``per_key``: waiting counts of 20,000 halls).

One blocking read per hall would hold one Redis connection and one task per hall:
20,000 of them for a province. A multi-key read covers up to ``size`` streams in one
command on one connection. On a Redis Cluster every key of one command must share a
hash slot, so there a batch holds only keys of one slot (one hall's, by its hash tag).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from hall.text import as_str

BATCH = 1000  # streams per multi-key read


def batches(client: Any, keys: Iterable[str], size: int = BATCH) -> list[list[str]]:
    """``keys`` cut into batches one command may read together, at most ``size`` each."""
    if isinstance(client, RedisCluster):
        by_slot: dict[int, list[str]] = {}
        for key in keys:
            by_slot.setdefault(key_slot(key.encode()), []).append(key)
        return [group[i:i + size] for group in by_slot.values()
                for i in range(0, len(group), size)]
    ordered = list(keys)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


PER_KEY = """
local out = {}
for i, key in ipairs(KEYS) do
  local r = redis.pcall(ARGV[1], key, unpack(ARGV, 2))
  if type(r) == 'table' and r.err then r = false end
  out[i] = r
end
return out
"""


async def per_key(client: Any, command: str, keys: list[str], *args: str,
                  size: int = BATCH) -> list[Any]:
    """``command key *args`` (a read: ZCARD, HGETALL, XPENDING … group) for every key, in
    one script call per batch instead of one command each (a pipeline of 50,000 commands
    costs seconds of client CPU); replies in the order of ``keys``, None for an error."""
    out: dict[str, Any] = {}
    for batch in batches(client, keys, size):
        replies = await client.eval(PER_KEY, len(batch), *batch, command, *args)
        out.update(zip(batch, replies, strict=True))
    return [out[k] for k in keys]


async def noted_since(client: Any, key: str, since: float) -> list[str]:
    """The members of ``key`` (a zset of halls noted with the time) noted at ``since`` or
    later, in one round trip; older notes are dropped on the way (``voice:read``,
    ``appt:halls``: which halls a pass over every hall needs to visit)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", f"({since!r}")
        pipe.zrange(key, 0, -1)
        _, raw = await pipe.execute()
    return [as_str(m) for m in raw]
