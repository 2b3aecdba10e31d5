"""Archived ticket records: a closed hall-day's tickets and day keys as one file, read back.

A hall-day rolled up and older than ``archive_after_days`` moves out of Redis
(``ticketing.record_archiver``) into ``archive/<hall>/<day>.records.jsonl.gz``, beside the
audit trail's file of the day, with the audit archive's rules (``hall.audit_archive``:
path, packing, index entry). The file's lines, JSON, sorted keys:

    {"counters": {...}, "day": "<d>", "numbers": {...}}      the day keys (first line)
    {"at": <issued>, "id": "<ticket>", "t": {"json", "status", "ver"}}   a ticket, in issue order

— exactly the fields Redis held, so a ticket reads back as it was. Ratings stay in Redis
(they are the 好差评 record, read by time, and expire with retention as before).
Redis keeps the index entry ``hall:{h}:records:archived:<day>`` = ``"<tickets> <sha256 of
file> <id prefixes>"`` (the first ``PREFIX_CHARS`` of each ticket id, run together: how a
ticket id finds its day), expiring when the day's records would have.
``RecordArchive`` reads: a day's records for reports and the tide's history, and one ticket
by id for the citizen's ticket link and its rating.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from hall.audit_archive import (
    RECORDS_SUFFIX,
    Archived,
    day_path,
    digest,
    file_problem,
    is_day,
    pack,
    unpack,
)
from hall.text import as_str
from ticketing.keys import HallKeys

log = logging.getLogger("ticketing.archive")
PREFIX_CHARS = 8  # of a ticket id (token_urlsafe: 48 bits), in the index entry


def records_index_key(hall: str, day: str) -> str:
    """The index entry of a hall-day whose ticket records are archived."""
    return f"{HallKeys(hall).prefix}:records:archived:{day}"


@dataclass(frozen=True)
class RecordLine:
    """One archived ticket: its id, issue score (in the day's zset), and record hash."""

    id: str
    at: float
    fields: dict[str, str]


@dataclass(frozen=True)
class DayRecords:
    """An archived hall-day: its day keys and its tickets in issue order."""

    day: str
    counters: dict[str, str]
    numbers: dict[str, str]
    tickets: tuple[RecordLine, ...]

    def ticket(self, ticket_id: str) -> RecordLine | None:
        return next((t for t in self.tickets if t.id == ticket_id), None)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def lines_of(records: DayRecords) -> list[str]:
    """The file's lines of a day (the same records always give the same lines)."""
    head = {"counters": records.counters, "day": records.day, "numbers": records.numbers}
    return [_dumps(head), *(_dumps({"at": t.at, "id": t.id, "t": t.fields})
                            for t in records.tickets)]


def records_of(lines: Sequence[str]) -> DayRecords:
    """A day's records from its file's lines (ValueError / KeyError when not one)."""
    head = json.loads(lines[0])
    tickets = tuple(RecordLine(str(d["id"]), float(d["at"]), {str(k): str(v) for k, v in
                                                              d["t"].items()})
                    for d in map(json.loads, lines[1:]))
    return DayRecords(str(head["day"]), dict(head["counters"]), dict(head["numbers"]), tickets)


def index_of(records: DayRecords, data: bytes) -> Archived:
    """The index entry of a day's records packed into ``data``."""
    return Archived(len(records.tickets), digest(data),
                    "".join(t.id[:PREFIX_CHARS] for t in records.tickets))


def packed(records: DayRecords) -> bytes:
    return pack(lines_of(records))


# KEYS: the index entries of the days to look in. ARGV: the id's prefix. Returns the
# (1-based) positions of the days whose index names that prefix (a prefix may, rarely,
# belong to two tickets: the file tells which).
FIND_SCRIPT = """
local found = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local tail = v and string.match(v, '^%S+ %S+ (%S*)$')
  if tail then
    local from = 1
    while true do
      local s = string.find(tail, ARGV[1], from, true)
      if not s then break end
      if (s - 1) % #ARGV[1] == 0 then found[#found + 1] = i; break end
      from = s + 1
    end
  end
end
return found
"""


class RecordArchive:
    """Reads archived hall-days of ticket records (``root``: the data folder; None: there
    is none here, and an archived day reads as no records)."""

    def __init__(self, redis: Redis, root: Path | None) -> None:
        self.redis = redis
        self.root = root
        self._find = redis.register_script(FIND_SCRIPT)

    async def index(self, hall: str, day: str) -> Archived | None:
        raw = await self.redis.get(records_index_key(hall, day))
        return Archived.parse(as_str(raw)) if raw else None

    def file(self, hall: str, day: str) -> Path | None:
        return (Path(day_path(self.root, hall, day, RECORDS_SUFFIX))
                if self.root is not None and is_day(day) else None)

    async def read_day(self, hall: str, day: str) -> DayRecords | None:
        """An archived day's records (None: the day is not archived, or its file cannot be
        read or fails its index's check: logged)."""
        index = await self.index(hall, day)
        if index is None:
            return None
        return await self._checked(hall, day, index)

    async def read_days(self, hall: str, days: Sequence[str]) -> list[DayRecords | None]:
        """``read_day`` for several days, their index entries in one round trip (the tide
        reads eight weeks of a hall's history when it starts leading the hall)."""
        if not days:
            return []
        found: list[Any] = await self.redis.mget([records_index_key(hall, d) for d in days])
        return [await self._checked(hall, day, Archived.parse(as_str(raw))) if raw else None
                for day, raw in zip(days, found, strict=True)]

    async def _checked(self, hall: str, day: str, index: Archived) -> DayRecords | None:
        path = self.file(hall, day)
        data = await asyncio.to_thread(_read, path) if path is not None else None
        problem = file_problem(index, data)
        if problem is None and data is not None:
            try:
                return records_of(unpack(data))
            except (OSError, ValueError, EOFError, KeyError, IndexError):
                problem = "its archived file is damaged"
        log.error("record archive: %s day %s unreadable: %s", hall, day, problem)
        return None

    async def ticket(self, hall: str, ticket_id: str, days: Sequence[str]
                     ) -> RecordLine | None:
        """An archived ticket's record, looked for among ``days`` (None: not there)."""
        prefix = ticket_id[:PREFIX_CHARS]
        if len(prefix) < PREFIX_CHARS or " " in prefix or not days:
            return None
        found: Any = await self._find(keys=[records_index_key(hall, d) for d in days],
                                      args=[prefix])
        for position in found:
            records = await self.read_day(hall, days[int(position) - 1])
            line = records.ticket(ticket_id) if records is not None else None
            if line is not None:
                return line
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
