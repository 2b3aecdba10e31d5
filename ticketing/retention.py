"""Retention by age for a hall's event stream: where the events older than a time begin.

Stream ids carry the Redis server's clock; each event's ``at`` field carries the clock of
the process that committed it (the hall's clock: ``time.time`` in production, a
simulated one in soaks and tests). Retention is by the events' own time, so the cut is
found by a binary search over ids on ``at`` (ids and ``at`` both grow along the stream):
about 30 one-entry ``XRANGE`` reads, then ``XTRIM MINID`` (``ReportStore.rollup``).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from hall.text import as_str


def _at(fields: dict[Any, Any]) -> float:
    raw = fields.get(b"at", fields.get("at"))
    try:
        return float(as_str(raw)) if raw is not None else 0.0
    except ValueError:
        return 0.0


def _ms(entry_id: Any) -> int:
    return int(as_str(entry_id).split("-")[0])


async def stream_cutoff(redis: Redis, stream: str, before: float) -> str | None:
    """The id of the first event whose ``at`` is ≥ ``before`` (trim what precedes it), or
    None when no event is older than ``before``. The newest event is always kept."""
    first: Any = await redis.xrange(stream, count=1)
    if not first or _at(first[0][1]) >= before:
        return None
    last: Any = await redis.xrevrange(stream, count=1)
    if _at(last[0][1]) < before:
        return as_str(last[0][0])
    lo, hi = _ms(first[0][0]), _ms(last[0][0])  # the cut lies in (lo, hi]
    found = as_str(last[0][0])
    while lo < hi:
        mid = (lo + hi) // 2
        probe: Any = await redis.xrange(stream, min=str(mid + 1), count=1)
        if not probe:
            break
        if _at(probe[0][1]) >= before:
            found, hi = as_str(probe[0][0]), mid
        else:
            lo = _ms(probe[0][0])
    return found
