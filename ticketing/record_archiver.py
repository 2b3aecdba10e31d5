"""Moving closed hall-days' ticket records out of Redis into the data folder, and their
retention there (the file and its reading: ``ticketing.record_archive``).

A day moves once it is rolled up (it has its aggregate: ``ReportStore.rollup``) and is
``archive_after_days`` old. ``archive_day`` writes its file with the audit archive's
durable write (``hall.audit_archiver.write_file``: temporary file, fsync, rename, folder
fsync), and only then runs ``REMOVE_SCRIPT``: it checks the day's ticket set and every
record's version are still what was written (a late change aborts it: the next sweep
archives the day again, with the change) and replaces the day's keys and records by the
index entry. After a crash at any point the next sweep redoes what is left: a file written
but not indexed is written again with the same bytes; a day indexed has no keys left.
``prune`` deletes files past ``record_retention_days`` once their index has expired
(``hall.audit_archiver.prune_files``, the audit files' rule).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from hall.audit_archive import RECORDS_SUFFIX, day_path, last_to_archive
from hall.audit_archiver import (
    Swept,
    archive_present,
    prune_files,
    sweep_halls,
    write_file,
)
from hall.calendar import local_day
from hall.config import HallConfig
from hall.text import as_str
from ticketing.keys import HallKeys
from ticketing.record_archive import (
    DayRecords,
    RecordArchive,
    RecordLine,
    index_of,
    packed,
    records_index_key,
)
from ticketing.report_store import agg_days_key

log = logging.getLogger("ticketing.archive")

# KEYS: the index entry, the day's tickets zset, counters, numbers, then each ticket's
# record. ARGV: the index entry, the lifetime (ms) to give it when neither an earlier index
# entry nor the zset has one (the entry expires when the records would have), then
# each ticket's id and record version ("" when it had no record). Returns 1 when the keys
# were replaced by the index entry, 0 when anything changed since it was read.
REMOVE_SCRIPT = """
local n = #KEYS - 4
if redis.call('ZCARD', KEYS[2]) ~= n then return 0 end
for i = 1, n do
  if not redis.call('ZSCORE', KEYS[2], ARGV[1 + 2 * i]) then return 0 end
  if (redis.call('HGET', KEYS[4 + i], 'ver') or '') ~= ARGV[2 + 2 * i] then return 0 end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then ttl = redis.call('PTTL', KEYS[2]) end
if ttl <= 0 then ttl = tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
"""


@dataclass(frozen=True)
class Written:
    """A day's file as written: the records read from Redis (what the removal checks), the
    records in the file (an earlier file's too), and the file's bytes."""

    live: DayRecords
    records: DayRecords
    data: bytes


class RecordArchiver:
    """Archives halls' closed days of ticket records to files; prunes files past retention."""

    def __init__(self, redis: Redis, root: Path, halls: dict[str, HallConfig]) -> None:
        self.redis = redis
        self.root = root
        self.halls = halls
        self._remove = redis.register_script(REMOVE_SCRIPT)
        self.archive = RecordArchive(redis, root)

    async def read(self, hall: str, day: str) -> DayRecords | None:
        """The day's records as Redis holds them (None: no tickets left there)."""
        keys = HallKeys(hall)
        issued: Any = await self.redis.zrange(keys.day_tickets(day), 0, -1, withscores=True)
        if not issued:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.day_counters(day))
            pipe.hgetall(keys.day_numbers(day))
            for tid, _ in issued:
                pipe.hgetall(keys.ticket(as_str(tid)))
            counters, numbers, *records = await pipe.execute()
        return DayRecords(
            day, _strs(counters), _strs(numbers),
            tuple(RecordLine(as_str(tid), float(at), _strs(r))
                  for (tid, at), r in zip(issued, records, strict=True)))

    async def write(self, hall: str, day: str) -> Written | None:
        """Write the day's file from its records in Redis, after the day's earlier file if
        it was archived before (a process whose clock is far behind wrote to it since);
        None when there is nothing to archive or that earlier file is not intact (never
        overwritten: it is all that is left of those records)."""
        live = await self.read(hall, day)
        if live is None:
            return None
        records = live
        if await self.archive.index(hall, day) is not None:
            earlier = await self.archive.read_day(hall, day)
            if earlier is None:
                log.error("record archive: %s day %s not archived again: its earlier file "
                          "is not intact", hall, day)
                return None
            records = merged(earlier, live)
        data = packed(records)
        path = Path(day_path(self.root, hall, day, RECORDS_SUFFIX))
        await asyncio.to_thread(write_file, path, data)
        return Written(live, records, data)

    async def remove(self, hall: str, day: str, written: Written) -> bool:
        """Replace the day's keys and records by the index entry if they are still as
        read (False: something changed, nothing done)."""
        keys = HallKeys(hall)
        retention = self.halls[hall].rules.record_retention_days * 86400 * 1000
        live = written.live.tickets
        args: list[Any] = [index_of(written.records, written.data).text(), retention]
        for t in live:
            args += [t.id, t.fields.get("ver", "")]
        done = await self._remove(
            keys=[records_index_key(hall, day), keys.day_tickets(day), keys.day_counters(day),
                  keys.day_numbers(day), *(keys.ticket(t.id) for t in live)],
            args=args)
        return bool(done)

    async def archive_day(self, hall: str, day: str) -> bool:
        """Move one hall-day's records to its file; False when there was nothing to move or
        a record changed meanwhile (the next sweep moves it with the change)."""
        written = await self.write(hall, day)
        return written is not None and await self.remove(hall, day, written)

    def _bounds(self, cfg: HallConfig, now: float) -> tuple[str, str]:
        """(the last day whose records may have expired, the newest day to archive)."""
        return (local_day(now - cfg.rules.record_retention_days * 86400, cfg.tz),
                local_day(now, cfg.tz))

    async def archive_hall(self, hall: str, after_days: int, now: float) -> int:
        """Archive every rolled-up day of the hall older than ``after_days`` still in Redis."""
        if after_days <= 0:
            return 0
        cfg = self.halls[hall]
        expired, today = self._bounds(cfg, now)
        last = last_to_archive(today, after_days)
        rolled: Any = await self.redis.zrangebyscore(agg_days_key(hall), int(expired),
                                                     int(last))
        days = [as_str(d) for d in rolled]
        if not days:
            return 0
        keys = HallKeys(hall)
        return await archive_present(self.redis, days, keys.day_tickets,
                                     lambda d: self.archive_day(hall, d))

    async def prune(self, hall: str, now: float) -> int:
        """Delete the hall's record files past ``record_retention_days`` (index expired)."""
        expired, _ = self._bounds(self.halls[hall], now)
        return await prune_files(self.redis, self.root, hall, RECORDS_SUFFIX, expired,
                                 records_index_key)

    async def sweep(self, halls: Sequence[str], after_days: int, now: float) -> Swept:
        """Archive (``after_days`` 0: no) and prune every configured hall of ``halls``."""
        return await sweep_halls([h for h in halls if h in self.halls],
                                 lambda h: self.archive_hall(h, after_days, now),
                                 lambda h: self.prune(h, now), "record archive")


def merged(earlier: DayRecords, later: DayRecords) -> DayRecords:
    """One day's records from an earlier archived file and what Redis held after it (the
    later record of a ticket, counter and number wins)."""
    tickets = {t.id: t for t in earlier.tickets} | {t.id: t for t in later.tickets}
    return DayRecords(earlier.day, earlier.counters | later.counters,
                      earlier.numbers | later.numbers,
                      tuple(sorted(tickets.values(), key=lambda t: (t.at, t.id))))


def _strs(raw: Any) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in (raw or {}).items()}
