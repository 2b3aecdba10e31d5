"""The ticket-record archive's pure part: a day's records as file lines and back, the index
entry (count, digest, id prefixes), and a day archived twice merged into one file."""

from __future__ import annotations

from hall.audit_archive import Archived, digest, unpack
from ticketing.record_archive import (
    PREFIX_CHARS,
    DayRecords,
    RecordLine,
    index_of,
    lines_of,
    packed,
    records_of,
)
from ticketing.record_archiver import merged


def a_day(*ids: str, ver: str = "3") -> DayRecords:
    tickets = tuple(RecordLine(i, 1_795_000_000.0 + n, {"ver": ver, "status": "done",
                                                        "json": f'{{"id":"{i}","n":"政务"}}'})
                    for n, i in enumerate(ids))
    return DayRecords("20261118", {"A": str(len(ids))},
                      {f"A{n + 1:03d}": i for n, i in enumerate(ids)}, tickets)


def test_a_day_reads_back_exactly_and_packs_to_the_same_bytes() -> None:
    day = a_day("aaaaaaaaXYZ", "bbbbbbbbXYZ")
    assert records_of(lines_of(day)) == day
    assert records_of(unpack(packed(day))) == day
    assert packed(day) == packed(records_of(unpack(packed(day))))  # no time stamp


def test_the_index_entry_names_count_digest_and_each_ids_prefix() -> None:
    day = a_day("aaaaaaaaXYZ", "bbbbbbbbXYZ")
    data = packed(day)
    index = index_of(day, data)
    assert index == Archived(2, digest(data), "aaaaaaaabbbbbbbb")
    assert Archived.parse(index.text()) == index
    assert len(index.tail) == 2 * PREFIX_CHARS
    empty = index_of(a_day(), packed(a_day()))
    assert Archived.parse(empty.text()) == empty


def test_a_day_archived_again_keeps_every_earlier_ticket_and_takes_the_later_record() -> None:
    earlier = a_day("aaaaaaaa1", "bbbbbbbb1")
    later = DayRecords("20261118", {"A": "3"}, {"A003": "cccccccc1"}, (
        RecordLine("cccccccc1", 1_795_000_900.0, {"ver": "1"}),
        RecordLine("bbbbbbbb1", 1_795_000_001.0, {"ver": "9"})))
    both = merged(earlier, later)
    assert [t.id for t in both.tickets] == ["aaaaaaaa1", "bbbbbbbb1", "cccccccc1"]
    assert both.ticket("bbbbbbbb1") == later.tickets[1]
    assert both.counters == {"A": "3"} and set(both.numbers) == {"A001", "A002", "A003"}
