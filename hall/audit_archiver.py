"""Moving closed hall-days of the audit trail out of Redis into the data folder, and their
retention there. ``write_file`` (the durable write) and ``prune_files`` (retention) serve
every kind of archived day: the ticket records' too (``ticketing.record_archive``).

``archive_day`` writes the day's lines to ``archive/<hall>/<day>.audit.jsonl.gz``
(``hall.audit_archive``: a temporary file, fsync'd, renamed, the folder fsync'd; 0600 in
0700 folders), and only then replaces the day's Redis list by its index entry, in one
script that first checks the list is still what was written (an entry appended
meanwhile aborts it: the day is archived again on the next run, with that entry). Each
step can be redone after a crash at any point: a file written but not indexed is written
again, with the same bytes; a day already indexed has no list left to archive.
``prune`` deletes archived files past the trail's retention, once their index entry has
expired (``AuditTrail.verify`` then counts the day as expired, as for a list). A sweep that
moved or deleted anything records an ``audit.archive`` entry in the deployment's trail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from hall.audit_archive import (
    SUFFIX,
    day_of_file,
    day_path,
    days_to_archive,
    hall_dir,
    index_of,
    pack,
    past_retention,
)
from hall.audit_store import AuditTrail, archived_key, day_key, entry_now
from hall.audit_trail import DEPLOYMENT
from hall.private_files import make_private_dir, write_private
from hall.streams import per_key
from hall.text import as_str

log = logging.getLogger("hall.audit")
STALE_TEMP_SECONDS = 3600  # a temporary file this old belongs to a write that crashed

# KEYS: the day's list, its index entry. ARGV: how many lines the list had when it was
# archived, the hash of its last line, the index entry, the lifetime (ms) to give it when
# neither key has one. Returns 1 when the list was replaced by the index entry, 0 when it
# changed since it was read (nothing done). The entry expires when the list would have.
REMOVE_SCRIPT = """
local n = redis.call('LLEN', KEYS[1])
if n == 0 or n ~= tonumber(ARGV[1]) then return 0 end
local last = redis.call('LINDEX', KEYS[1], -1)
if string.match(last, '^%S+ %S+ (%S+)') ~= ARGV[2] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then ttl = redis.call('PTTL', KEYS[2]) end
if ttl <= 0 then ttl = tonumber(ARGV[4]) end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ttl)
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class Written:
    """A day's file as written: the Redis list it was read from, its lines, its bytes."""

    raw: list[str]
    lines: list[str]
    data: bytes


@dataclass(frozen=True)
class Swept:
    """What one sweep did: hall-days archived, refused (see the log), files deleted."""

    archived: int = 0
    refused: int = 0
    pruned: int = 0


def write_file(path: Path, data: bytes) -> None:
    """``data`` to ``path`` durably (``hall.private_files.write_private``), its folder made
    0700 first."""
    make_private_dir(path.parent)
    write_private(path, data)


class AuditArchiver:
    """Archives a trail's closed days to files and prunes the files past retention."""

    def __init__(self, trail: AuditTrail) -> None:
        if trail.data_dir is None:
            raise ValueError("the audit archive needs the data folder")
        self.trail = trail
        self.root: Path = trail.data_dir
        self.redis = trail.redis
        self._remove = trail.redis.register_script(REMOVE_SCRIPT)

    async def write(self, hall: str, day: str) -> Written | None:
        """Write the day's file (its archived lines, if any, then its list); None when there
        is nothing to archive or the day's earlier file is not intact (it is evidence: never
        overwritten)."""
        raw = [as_str(x) for x in await self.redis.lrange(day_key(hall, day), 0, -1)]
        if not raw:
            return None
        earlier: list[str] = []
        index = await self.trail.archived(hall, day)
        if index is not None:  # entries appended to a day already archived: one file
            earlier, problem = await self.trail.file_lines(hall, day, index)
            if problem is not None:
                log.error("audit archive: %s day %s not archived again: %s", hall, day,
                          problem)
                return None
        lines = earlier + raw
        data = pack(lines)
        path = self.trail.archive_file(hall, day)
        assert path is not None
        await asyncio.to_thread(write_file, path, data)
        return Written(raw, lines, data)

    async def remove(self, hall: str, day: str, written: Written) -> bool:
        """Replace the day's list by its index entry if the list is still as written."""
        raw = written.raw
        index = index_of(written.lines, written.data)
        done = await self._remove(
            keys=[day_key(hall, day), archived_key(hall, day)],
            args=[len(raw), raw[-1].split(" ", 3)[2], index.text(), self.trail.ttl * 1000])
        return bool(done)

    async def archive_day(self, hall: str, day: str) -> bool:
        """Move one hall-day to its file; False when there was nothing to move or its list
        changed meanwhile (the next run archives it with what was appended)."""
        written = await self.write(hall, day)
        return written is not None and await self.remove(hall, day, written)

    async def archive_hall(self, hall: str, after_days: int, now: float) -> int:
        """Archive every day of the hall older than ``after_days`` still in Redis."""
        days = days_to_archive(await self.trail.days(hall), self.trail.day(hall, now), after_days)
        if not days:
            return 0
        return await archive_present(self.redis, days, lambda d: day_key(hall, d),
                                     lambda d: self.archive_day(hall, d))

    async def prune(self, hall: str, now: float) -> int:
        """Delete the hall's archived files past the trail's retention (index expired)."""
        return await prune_files(self.redis, self.root, hall, SUFFIX,
                                 self.trail.day(hall, now - self.trail.ttl), archived_key)

    async def sweep(self, halls: Sequence[str], after_days: int, now: float) -> Swept:
        """Archive (``after_days`` 0: no) and prune every hall of ``halls``."""
        swept = await sweep_halls(halls, lambda h: self.archive_hall(h, after_days, now),
                                  lambda h: self.prune(h, now), "audit archive")
        if swept.archived or swept.pruned or swept.refused:  # moving the trail is audited
            await self.trail.append(DEPLOYMENT, entry_now(
                self.trail.clock(), "audit.archive", target=f"{len(halls)} halls",
                result="ok" if not swept.refused else "failed:audit_archive",
                detail={"archived": swept.archived, "pruned": swept.pruned,
                        "failed": swept.refused}))
        return swept


async def archive_present(redis: Redis, days: Sequence[str], live_key: Callable[[str], str],
                          archive_day: Callable[[str], Awaitable[bool]]) -> int:
    """Archive each of ``days`` whose live key (``live_key(day)``) is still in Redis, in
    turn; how many moved (the one step of every kind of archived day)."""
    present = await per_key(redis, "EXISTS", [live_key(d) for d in days])
    moved = 0
    for day, exists in zip(days, present, strict=True):
        if exists and await archive_day(day):
            moved += 1
    return moved


async def sweep_halls(halls: Iterable[str], archive: Callable[[str], Awaitable[int]],
                      prune: Callable[[str], Awaitable[int]], what: str) -> Swept:
    """Archive then prune each hall in turn (the one sweep of every kind of archived day);
    one hall's trouble is logged and counted, and does not stop the others'."""
    archived = refused = pruned = 0
    for hall in halls:
        try:
            archived += await archive(hall)
            pruned += await prune(hall)
        except Exception:
            log.exception("%s: hall %s failed", what, hall)
            refused += 1
    return Swept(archived, refused, pruned)


async def prune_files(redis: Redis, root: Path, hall: str, suffix: str, last_expired: str,
                      index_key: Callable[[str, str], str]) -> int:
    """Delete the hall's archived files of one kind (``suffix``) past retention: days before
    ``last_expired`` whose index entry (``index_key(hall, day)``) has expired too. The one
    retention step of every kind of archived day."""
    found = await asyncio.to_thread(archived_days, root, hall, suffix)
    old = past_retention(found, last_expired)
    if not old:
        return 0
    indexed = await per_key(redis, "EXISTS", [index_key(hall, d) for d in old])
    gone = [d for d, i in zip(old, indexed, strict=True) if not i]
    for day in gone:
        path = Path(day_path(root, hall, day, suffix))
        assert root in path.parents
        await asyncio.to_thread(path.unlink, True)
    return len(gone)


def archived_days(root: Path, hall: str, suffix: str = SUFFIX) -> list[str]:
    """The days that have a file of one kind (``suffix``) in the hall's archive folder (and,
    on the way, delete that kind's temporary files of writes a crash interrupted, once an
    hour old)."""
    try:
        entries = list(os.scandir(hall_dir(root, hall)))
    except FileNotFoundError:
        return []
    stale = time.time() - STALE_TEMP_SECONDS
    for e in entries:
        if e.name.startswith(".") and suffix in e.name and e.stat().st_mtime < stale:
            Path(e.path).unlink(missing_ok=True)
    return sorted(d for d in (day_of_file(e.name, suffix) for e in entries) if d is not None)
