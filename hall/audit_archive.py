"""The archive, pure part: closed hall-days out of Redis as files, and their index.

Two kinds of hall-day are archived this way, each a file beside the other in the hall's
folder and told apart by its suffix: the audit trail (``SUFFIX``, below) and the ticket
records (``RECORDS_SUFFIX``: ``ticketing.record_archive``). The path rules, the packing,
the index entry and the retention rule are this module's, for both.

A hall-day older than ``archive_after_days`` moves out of Redis into one file of the data
folder, ``archive/<hall>/<day>.audit.jsonl.gz`` (a file per day in the hall's folder, not a
folder per day: a village hall-day is ~2 KB, so a folder would double the blocks and the
inodes it takes): the day's stored lines
(``"<seq> <prev> <hash> <json>"``, exactly as Redis held them, so the chain checks the same
way), one a line, gzip'd with no time stamp (the same lines always give the same bytes).
Redis keeps an ``Archived`` index entry per day: how many lines, the SHA-256 of the file,
and the chain's last hash, which is what ``verify`` checks the file against.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from hall.audit_trail import DEPLOYMENT

ARCHIVE_DIR = "archive"
SUFFIX = ".audit.jsonl.gz"  # the audit trail's days
RECORDS_SUFFIX = ".records.jsonl.gz"  # the ticket records' days (ticketing.record_archive)
DEPLOYMENT_DIR = "_deployment"  # the trail of no hall ("*"); a hall id never starts with '_'


@dataclass(frozen=True)
class Archived:
    """The index entry Redis keeps for an archived hall-day: how many lines, the file's
    SHA-256, and a ``tail`` each kind fills (the audit trail: the chain's last hash; the
    ticket records: the tickets' id prefixes, to find a ticket's day)."""

    count: int
    sha256: str
    tail: str

    def text(self) -> str:
        return f"{self.count} {self.sha256} {self.tail}"

    @classmethod
    def parse(cls, raw: str) -> Archived:
        count, sha, last = raw.split(" ")
        return cls(int(count), sha, last)


def pack(lines: Sequence[str]) -> bytes:
    """The file's bytes for a day's stored lines (no time stamp: same lines, same bytes)."""
    return gzip.compress("".join(f"{raw}\n" for raw in lines).encode(), mtime=0)


def unpack(data: bytes) -> list[str]:
    """The stored lines of a file's bytes (ValueError / OSError when it is not one)."""
    text = gzip.decompress(data).decode()
    return text.split("\n")[:-1] if text else []


def index_of(lines: Sequence[str], data: bytes) -> Archived:
    """The index entry of an audit day whose lines were packed into ``data``."""
    last = lines[-1].split(" ", 3)[2] if lines else ""
    return Archived(len(lines), digest(data), last)


def digest(data: bytes) -> str:
    """The SHA-256 an index entry keeps of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def file_problem(index: Archived, data: bytes | None) -> str | None:
    """What is wrong with an archived day's file against its index entry (None: intact)."""
    if data is None:
        return "its archived file was deleted"
    if digest(data) != index.sha256:
        return "its archived file was altered (its SHA-256 differs from the index)"
    return None


def is_day(text: str) -> bool:
    """``YYYYMMDD`` digits only: what the trail's day index may name (a day read from Redis
    becomes part of a file name, so nothing else is ever let through)."""
    return len(text) == 8 and text.isascii() and text.isdigit()


def day_path(root: PurePath, hall: str, day: str, suffix: str = SUFFIX) -> PurePath:
    """Where a hall-day's file of one kind (``suffix``) lives under the data folder's
    ``root``."""
    if not is_day(day):
        raise ValueError(f"not a day: {day!r}")
    return hall_dir(root, hall) / f"{day}{suffix}"


def hall_dir(root: PurePath, hall: str) -> PurePath:
    return root / ARCHIVE_DIR / (DEPLOYMENT_DIR if hall == DEPLOYMENT else hall)


def last_to_archive(today: str, after_days: int) -> str:
    """The newest day (hall-local ``YYYYMMDD``) archived on ``today``: ``after_days`` before
    it (1: yesterday, once the day is over)."""
    first = datetime.strptime(today, "%Y%m%d").date() - timedelta(days=after_days)
    return first.strftime("%Y%m%d")


def days_to_archive(days: Sequence[str], today: str, after_days: int) -> list[str]:
    """The days of ``days`` old enough to archive (none when ``after_days`` is 0: off)."""
    if after_days <= 0:
        return []
    last = last_to_archive(today, after_days)
    return [d for d in days if is_day(d) and d <= last]


def day_of_file(name: str, suffix: str = SUFFIX) -> str | None:
    """The day a file of a hall's folder archives (None: not an archive file of the kind
    ``suffix`` names)."""
    day = name.removesuffix(suffix)
    return day if day != name and is_day(day) else None


def past_retention(days: Sequence[str], last_expired: str) -> list[str]:
    """Archived days whose retention has passed: strictly before the last day that may have
    expired (``AuditTrail.verify``'s rule; for ticket records, the last day whose records
    may have expired), so a file outlives its index entry, never the reverse."""
    return [d for d in days if d < last_expired]
