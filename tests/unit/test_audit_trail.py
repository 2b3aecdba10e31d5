"""The audit chain: any edit, insertion or deletion is found, and named at the first entry."""

from __future__ import annotations

from hall.audit_trail import (
    GENESIS,
    Entry,
    chain_hash,
    csv_rows,
    line,
    matches,
    parse,
    verify_day,
    verify_head,
)


def chain(n: int, prev: str = GENESIS) -> list[str]:
    lines = []
    for seq in range(1, n + 1):
        body = Entry(at=1000.0 + seq, actor="s01", role="clerk", source="10.0.0.5",
                     action="ticket.called", target=f"window 1, ticket A00{seq}").body()
        lines.append(line(seq, prev, body))
        prev = lines[-1].split(" ")[2]
    return lines


def test_an_intact_chain_verifies_and_links_to_its_start() -> None:
    lines = chain(5)
    last, broken = verify_day("district", "20261118", lines, GENESIS)
    assert broken is None and last == lines[-1].split(" ")[2]
    # the next day continues from that hash
    nxt = chain(2, prev=last)
    assert verify_day("district", "20261119", nxt, last)[1] is None


def test_an_edited_entry_is_named() -> None:
    lines = chain(5)
    lines[2] = lines[2].replace("A003", "A009")
    broken = verify_day("district", "20261118", lines, GENESIS)[1]
    assert broken is not None and broken.seq == 3 and "edited" in broken.problem
    assert "entry #3" in str(broken)


def test_an_edit_that_recomputes_its_own_hash_breaks_the_next_link() -> None:
    lines = chain(5)
    seq, prev, _, body = lines[1].split(" ", 3)
    body = body.replace("s01", "s02")
    lines[1] = f"{seq} {prev} {chain_hash(2, prev, body)} {body}"
    broken = verify_day("district", "20261118", lines, GENESIS)[1]
    assert broken is not None and broken.seq == 3 and "link" in broken.problem


def test_a_deleted_or_inserted_entry_is_named() -> None:
    lines = chain(5)
    deleted = lines[:2] + lines[3:]
    broken = verify_day("district", "20261118", deleted, GENESIS)[1]
    assert broken is not None and broken.seq == 3 and "deleted" in broken.problem
    inserted = [*lines[:2], lines[1], *lines[2:]]
    broken = verify_day("district", "20261118", inserted, GENESIS)[1]
    assert broken is not None and broken.seq == 3


def test_deleting_the_newest_entries_is_caught_by_the_head() -> None:
    lines = chain(5)
    head = f"20261118 5 {lines[-1].split(' ')[2]}"
    assert verify_head("district", "20261118", lines, head) is None
    broken = verify_head("district", "20261118", lines[:3], head)
    assert broken is not None and broken.seq == 4 and "deleted" in broken.problem


def test_filters_and_csv() -> None:
    stored = parse("district", "20261118", chain(1)[0])
    assert matches(stored, actor="s01", action="ticket.", target="A001", result="ok")
    assert not matches(stored, actor="s02")
    assert not matches(stored, result="refused")
    evil = Entry(at=1.0, actor="=cmd|' /C calc'!A0", role="anonymous", source="-",
                 action="login", result="refused:bad_credentials")
    rows = list(csv_rows([parse("*", "20261118", line(1, GENESIS, evil.body()))]))
    assert rows[0][0] == "hall" and rows[1][4].startswith("'=")
    assert matches(parse("*", "d", line(1, GENESIS, evil.body())), result="refused")


def test_the_cached_issue_body_is_the_entry_of_the_issued_event() -> None:
    """``issue_rest`` (the hot path; ``issue.lua`` puts the time before it) writes what
    ``entry_for`` would, byte for byte."""
    from hall import audit_store
    from hall.audit_trail import body_at
    from hall.events import EventType
    from ticketing.audit_entry import entry_for, issue_rest

    for acting in (audit_store.Acting(source="10.1.2.3", method="POST",
                                      path="/api/halls/d/tickets", named_actor="district-S01",
                                      named_role="clerk", reason="拄拐"),
                   audit_store.Acting(source="10.1.2.4", method="POST", path="/x",
                                      named_actor="k", named_role="kiosk",
                                      detail={"note": "its own detail"})):
        token = audit_store._current.set(acting)
        try:
            for _ in range(2):  # built, then from the cache
                for group, appointment in ((None, False), ("elderly", True)):
                    brief = {"number": None, "window": None, "queue": "A", "matter": "QY-KB",
                             "channel": "kiosk", "priority_group": group,
                             "appointment": appointment}
                    rest = issue_rest("A", "QY-KB", "kiosk", group, appointment).decode()
                    assert body_at(1764460000.25, rest) == entry_for(
                        EventType.TICKET_ISSUED, {"ticket": brief}, 1764460000.25).body()
        finally:
            audit_store._current.reset(token)
