"""Check a hall's tickets against its event stream: no duplicate number, no double call, none lost.

Used by the concurrency and durability tests and by the benchmark; an operator can run it
on a live hall too (it only reads). The rules it checks are the promises of the store:

* every ticket number is given to one ticket only, per queue per day (from the ticket
  records and from the ``ticket.issued`` events);
* a ticket is called (``ticket.called``) at most once per time it waits in a queue (a
  transfer or a re-join puts it back, so it may be called again after those);
* every ticket record was announced by a ``ticket.issued`` event and vice versa, every
  waiting ticket is in a queue, and every record's status matches the last event about it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from hall.text import as_str
from ticketing.keys import HallKeys

REQUEUE_EVENTS = frozenset({"ticket.issued", "ticket.transferred", "ticket.rejoined"})
STATUS_OF_EVENT = {
    "ticket.issued": "waiting", "ticket.called": "called", "ticket.recalled": "called",
    "ticket.serving": "serving", "ticket.done": "done", "ticket.no_show": "no_show",
    "ticket.rejoined": "waiting", "ticket.transferred": "waiting",
    "ticket.cancelled": "cancelled",
}


@dataclass
class AuditReport:
    tickets: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    duplicate_numbers: list[str] = field(default_factory=list)
    double_calls: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)
    numbers: dict[str, str] = field(default_factory=dict)  # ticket id -> number
    statuses: dict[str, str] = field(default_factory=dict)  # ticket id -> status

    @property
    def ok(self) -> bool:
        return not (self.duplicate_numbers or self.double_calls or self.lost
                    or self.inconsistent)

    def summary(self) -> str:
        return (f"{self.tickets} tickets {dict(self.by_status)}; "
                f"duplicate numbers {len(self.duplicate_numbers)}, "
                f"double calls {len(self.double_calls)}, lost {len(self.lost)}, "
                f"inconsistent {len(self.inconsistent)}")



Entry = tuple[str, str, dict[str, Any]]


def read_events(redis: Redis, hall_id: str, batch: int = 5000) -> list[Entry]:
    """Every entry of the hall's stream as (id, type, data), oldest first."""
    key = HallKeys(hall_id).events
    out: list[Entry] = []
    start = "-"
    while True:
        entries: Any = redis.xrange(key, min=start, max="+", count=batch)
        for entry_id, fields in entries:
            f = {as_str(k): as_str(v) for k, v in fields.items()}
            out.append((as_str(entry_id), f["type"], json.loads(f["data"])))
        if len(entries) < batch:
            return out
        start = "(" + as_str(entries[-1][0])


def audit_hall(redis: Redis, hall_id: str) -> AuditReport:
    """Read every ticket of the hall and its whole event stream; report what is wrong."""
    keys = HallKeys(hall_id)
    report = AuditReport()
    events = read_events(redis, hall_id)
    calls_since_queued: dict[str, int] = defaultdict(int)
    last_status: dict[str, str] = {}
    issued_numbers: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for _, kind, data in events:
        report.events[kind] += 1
        ticket = data.get("ticket")
        if not isinstance(ticket, dict) or kind not in STATUS_OF_EVENT:
            continue
        tid = ticket["id"]
        if kind in REQUEUE_EVENTS:
            calls_since_queued[tid] = 0
        if kind == "ticket.issued":
            issued_numbers[(ticket["day"], ticket["queue"], ticket["number"])].add(tid)
        if kind == "ticket.called":
            calls_since_queued[tid] += 1
            if calls_since_queued[tid] == 2:
                report.double_calls.append(f"{ticket['number']} ({tid})")
        last_status[tid] = STATUS_OF_EVENT[kind]
    for (day, _, number), ids in issued_numbers.items():
        if len(ids) > 1:
            report.duplicate_numbers.append(f"{day} {number}: {len(ids)} issued events")

    ticket_keys = [as_str(k) for k in redis.scan_iter(match=keys.ticket("*"), count=1000)]
    records: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ticket_keys), 1000):
        chunk = ticket_keys[i:i + 1000]
        with redis.pipeline(transaction=False) as pipe:
            for k in chunk:
                pipe.hget(k, "json")
            for k, raw in zip(chunk, pipe.execute(), strict=True):
                if raw is None:
                    report.lost.append(f"{k}: record without json")
                else:
                    records[k.rsplit(":", 1)[1]] = json.loads(raw)
    report.tickets = len(records)
    seen_numbers: dict[tuple[str, str], str] = {}
    queued: dict[str, set[str]] = {}
    for tid, rec in records.items():
        status = rec["status"]
        report.by_status[status] += 1
        report.numbers[tid] = rec["number"]
        report.statuses[tid] = status
        slot = (rec["day"], rec["number"])
        if slot in seen_numbers:
            report.duplicate_numbers.append(f"{rec['day']} {rec['number']}: two records")
        seen_numbers[slot] = tid
        if tid not in last_status:
            report.lost.append(f"{rec['number']} ({tid}): record without ticket.issued event")
        elif last_status[tid] != status:
            report.inconsistent.append(
                f"{rec['number']} ({tid}): record says {status}, events say {last_status[tid]}")
        if status == "waiting":
            target = rec.get("target_window")
            zkey = keys.direct(target) if target is not None else keys.queue(rec["queue"])
            if zkey not in queued:
                queued[zkey] = {as_str(m) for m in redis.zrange(zkey, 0, -1)}
            if tid not in queued[zkey]:
                report.lost.append(f"{rec['number']} ({tid}): waiting but in no queue")
    for tid in last_status.keys() - records.keys():
        report.lost.append(f"{tid}: issued event without a ticket record")
    return report
