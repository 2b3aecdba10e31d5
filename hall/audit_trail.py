"""The security audit trail (等保 安全审计), pure part: entries, their hash chain, its check.

Every state-changing action by staff, admins, devices (and citizens' own ticket
actions) becomes one ``Entry``: who (actor, role), from where (source address), when,
what (action), on what (target), with what result, and the reason a rule asks for
(an out-of-order call, a priority given by hand). Refused actions are entries too.

Entries of one hall are chained: each stored line is

    "<seq> <prev> <hash> <body>"

where ``body`` is the entry's JSON, ``seq`` counts the hall-day's entries from 1, ``prev``
is the hash of the entry before it (the previous day's last entry for a day's first
one, 40 zeros for the hall's very first) and ``hash = sha1("<seq> <prev> <body>")``.
SHA-1 because it is the digest Redis scripts compute natively, which lets the chain
be extended inside the same atomic script as the action it records (the store lays no
claim to collision resistance; a forger needs a second preimage, which SHA-1 still
resists). Editing, inserting or deleting an entry breaks the chain at that entry;
deleting the newest entries is caught against the hall's head record, and a deleted
day against the day index. ``verify_day`` names the first broken entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hall.calendar import local_day

GENESIS = "0" * 40
RETENTION_DAYS = 400  # the Cybersecurity Law asks for at least 180 (six months)
MIN_RETENTION_DAYS = 180
DEPLOYMENT = "*"  # the trail of actions that belong to no hall (unknown users, admins)

RESULT_OK = "ok"


@dataclass(frozen=True)
class Entry:
    """One audited action. ``result`` is ``ok`` or ``refused:<error code>``."""

    at: float
    actor: str
    role: str
    source: str
    action: str
    target: str = ""
    result: str = RESULT_OK
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def body(self) -> str:
        """The entry's JSON as stored and hashed (verification hashes the stored text, so
        the key order need only be fixed when written)."""
        return body_at(self.at, self.rest())

    def rest(self) -> str:
        """The body after its time (``,"actor":…}``): the same for every entry of one
        caller and kind, so a hot path may build it once (``body_at`` adds the time)."""
        return "," + json.dumps({"actor": self.actor, "role": self.role,
                                 "source": self.source, "action": self.action,
                                 "target": self.target, "result": self.result,
                                 "reason": self.reason, "detail": self.detail},
                                ensure_ascii=False, separators=(",", ":"))[1:]

    @classmethod
    def from_body(cls, body: str) -> Entry:
        data = json.loads(body)
        return cls(**data)


@dataclass(frozen=True)
class Stored:
    """An entry as read back, with its place in the chain."""

    hall: str
    day: str
    seq: int
    prev: str
    hash: str
    entry: Entry

    def to_dict(self) -> dict[str, Any]:
        return {"hall": self.hall, "day": self.day, "seq": self.seq, "hash": self.hash,
                **asdict(self.entry)}


def body_at(at: float, rest: str) -> str:
    """An entry's body from its time and the rest of it (``Entry.rest``)."""
    return '{"at":' + json.dumps(at) + rest


def chain_hash(seq: int, prev: str, body: str) -> str:
    return hashlib.sha1(f"{seq} {prev} {body}".encode()).hexdigest()


def line(seq: int, prev: str, body: str) -> str:
    """The stored form of an entry (what the append script writes)."""
    return f"{seq} {prev} {chain_hash(seq, prev, body)} {body}"


def parse(hall: str, day: str, raw: str) -> Stored:
    seq, prev, digest, body = raw.split(" ", 3)
    return Stored(hall, day, int(seq), prev, digest, Entry.from_body(body))


UTC = ZoneInfo("UTC")
def audit_day(now: float, tz: ZoneInfo | None) -> str:
    """The hall-local day an entry at ``now`` belongs to (UTC for the deployment trail)."""
    return local_day(now, tz or UTC)


@dataclass(frozen=True)
class Break:
    """Where a chain stops being trustworthy, and why."""

    hall: str
    day: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"hall {self.hall} day {self.day} entry #{self.seq}: {self.problem}"


def verify_day(hall: str, day: str, lines: Sequence[str],
               prev: str | None) -> tuple[str, Break | None]:
    """Check one day's lines; ``prev`` is the hash the first must link to (None: any).

    Returns the last good hash and the first break (None when the day is intact).
    """
    last = prev
    for index, raw in enumerate(lines, start=1):
        try:
            seq_s, link, digest, body = raw.split(" ", 3)
            seq = int(seq_s)
            json.loads(body)
        except ValueError:
            return last or "", Break(hall, day, index, "not an audit line (damaged)")
        if seq != index:
            problem = ("an entry before it was deleted" if seq > index
                       else "out of place (inserted or duplicated)")
            return last or "", Break(hall, day, index, f"numbered #{seq}: {problem}")
        if last is not None and link != last:
            return last, Break(hall, day, seq, "does not link to the entry before it "
                                                "(an entry was deleted, inserted or edited)")
        if chain_hash(seq, link, body) != digest:
            return last or "", Break(hall, day, seq, "its content was edited")
        last = digest
    return last or "", None


def verify_head(hall: str, day: str, lines: Sequence[str], head: str | None) -> Break | None:
    """The newest day's last line must be the hall's head ("<day> <seq> <hash>")."""
    if not head:
        return None
    head_day, head_seq, head_hash = head.split(" ")
    if head_day != day:
        return Break(hall, head_day, int(head_seq), "the newest day's entries are missing")
    if len(lines) < int(head_seq):
        return Break(hall, day, len(lines) + 1, f"missing: the trail ends at #{len(lines)} "
                     f"but its head says #{head_seq} (newest entries deleted)")
    if not lines[int(head_seq) - 1].startswith(f"{head_seq} "):
        return Break(hall, day, int(head_seq), "does not match the trail's head")
    if lines[int(head_seq) - 1].split(" ", 3)[2] != head_hash:
        return Break(hall, day, int(head_seq), "does not match the trail's head (edited)")
    return None


def matches(stored: Stored, *, actor: str | None = None, role: str | None = None,
            action: str | None = None, target: str | None = None,
            result: str | None = None) -> bool:
    """The query filters: exact actor and role, action prefix, target substring, result."""
    e = stored.entry
    return ((actor is None or e.actor == actor) and (role is None or e.role == role)
            and (action is None or e.action.startswith(action))
            and (target is None or target in e.target)
            and (result is None or e.result == result or e.result.startswith(result + ":")))


CSV_COLUMNS = ("hall", "day", "seq", "at", "actor", "role", "source", "action", "target",
               "result", "reason", "hash")


def csv_rows(entries: Iterable[Stored]) -> Iterable[list[str]]:
    yield list(CSV_COLUMNS)
    for s in entries:
        data = s.to_dict()
        at = datetime.fromtimestamp(s.entry.at).astimezone().isoformat(timespec="seconds")
        yield [at if c == "at" else _csv_safe(str(data[c])) for c in CSV_COLUMNS]


def _csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a leading = + - @ gets a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
