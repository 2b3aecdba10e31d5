"""The audit archive's pure rules: the file's bytes, the index entry, which days move, which
files are past retention."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from hall.audit_archive import (
    Archived,
    day_of_file,
    day_path,
    days_to_archive,
    file_problem,
    index_of,
    pack,
    past_retention,
    unpack,
)
from hall.audit_trail import DEPLOYMENT, GENESIS, line, verify_day


def chain(n: int) -> list[str]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        raw = line(seq, prev, f'{{"at":{seq},"actor":"a","note":"第{seq}\\n"}}')
        out.append(raw)
        prev = raw.split(" ", 3)[2]
    return out


def test_a_file_holds_the_stored_lines_exactly_and_the_same_lines_give_the_same_bytes() -> None:
    lines = chain(5)
    data = pack(lines)
    assert unpack(data) == lines
    assert pack(lines) == data  # no time stamp: a rerun writes the same file
    assert verify_day("h", "20261118", unpack(data), GENESIS)[1] is None
    assert unpack(pack([])) == []


def test_the_index_entry_names_count_digest_and_tail_and_catches_a_changed_file() -> None:
    lines = chain(3)
    data = pack(lines)
    index = index_of(lines, data)
    assert index.count == 3 and index.tail == lines[-1].split(" ")[2]
    assert Archived.parse(index.text()) == index
    assert file_problem(index, data) is None
    assert "deleted" in str(file_problem(index, None))
    assert "altered" in str(file_problem(index, pack(chain(2))))


def test_days_older_than_the_setting_move_and_zero_turns_it_off() -> None:
    days = ["20261101", "20261110", "20261111", "20261117", "20261118"]
    assert days_to_archive(days, "20261118", 7) == ["20261101", "20261110", "20261111"]
    assert days_to_archive(days, "20261118", 1) == days[:-1]
    assert days_to_archive(days, "20261118", 0) == []
    # a day index entry that is not a day never becomes a file name
    assert days_to_archive(["../../x", "2026111", "20261101"], "20261118", 7) == ["20261101"]
    with pytest.raises(ValueError):
        day_path(PurePath("/data"), "v001", "../../etc")


def test_files_go_only_strictly_before_the_last_day_that_may_have_expired() -> None:
    assert past_retention(["20251010", "20251014", "20251015"], "20251015") == [
        "20251010", "20251014"]


def test_the_deployment_trail_has_its_own_folder() -> None:
    root = PurePath("/data")
    assert day_path(root, "v001", "20261118") == PurePath(
        "/data/archive/v001/20261118.audit.jsonl.gz")
    assert day_of_file("20261118.audit.jsonl.gz") == "20261118"
    assert day_of_file(".20261118.audit.jsonl.gz.x1y2") is None  # a temporary file
    assert day_of_file("notes.txt") is None
    assert day_path(root, DEPLOYMENT, "20261118").parts[3] == "_deployment"
