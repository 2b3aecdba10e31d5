"""Hall files: the bundled halls are valid and match HALL.md; every mistake is named by field."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from hall.config import (
    BUNDLED_HALLS_DIR,
    ConfigError,
    HallConfig,
    HallLevel,
    WindowKind,
    load_hall,
    parse_hall,
)

Raw = dict[str, Any]


def bundled(name: str) -> HallConfig:
    return load_hall(BUNDLED_HALLS_DIR / f"{name}.toml")


def town_raw() -> Raw:
    return tomllib.loads((BUNDLED_HALLS_DIR / "town.toml").read_text(encoding="utf-8"))


def problems(mutate: Callable[[Raw], None]) -> list[str]:
    raw = copy.deepcopy(town_raw())
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        parse_hall(raw, source="town.toml")
    assert err.value.problems, "a ConfigError must list its problems"
    assert str(err.value).startswith("town.toml: ")
    return err.value.problems


def kinds(cfg: HallConfig) -> dict[WindowKind, int]:
    out: dict[WindowKind, int] = {}
    for w in cfg.windows:
        out[w.kind] = out.get(w.kind, 0) + 1
    return out


# ---- the bundled halls -------------------------------------------------------------------


def test_district_hall_has_the_layout_of_seed_001() -> None:
    cfg = bundled("district")
    assert cfg.level is HallLevel.COUNTY and cfg.timezone == "Asia/Shanghai"
    assert len(cfg.windows) == 12
    assert kinds(cfg) == {WindowKind.NO_DIFFERENCE: 5, WindowKind.DOMAIN: 6, WindowKind.TIDE: 1}
    hosted = {s for w in cfg.windows if w.kind is WindowKind.NO_DIFFERENCE for s in w.specialties}
    assert hosted == {"complaint", "help_agent", "proxy", "appointment", "fast_track"}
    domains = {q.domain for w in cfg.windows if w.kind is WindowKind.DOMAIN
               for q in cfg.queues if q.letter in w.queues}
    assert domains == {"social_insurance", "medical_insurance", "tax", "police", "real_estate",
                       "housing_fund"}
    clerks = sum(1 for s in cfg.staff if s.role == "clerk")
    assert clerks > 11  # more clerks than fixed windows: a standby can open the tide window


def test_town_hall_has_four_to_six_no_difference_windows_one_of_them_tide() -> None:
    cfg = bundled("town")
    assert cfg.level is HallLevel.TOWN
    assert 4 <= len(cfg.windows) <= 6
    assert kinds(cfg).get(WindowKind.TIDE) == 1
    assert set(kinds(cfg)) == {WindowKind.NO_DIFFERENCE, WindowKind.TIDE}


def test_village_station_has_one_window() -> None:
    cfg = bundled("village")
    assert cfg.level is HallLevel.VILLAGE
    assert [w.kind for w in cfg.windows] == [WindowKind.NO_DIFFERENCE]


@pytest.mark.parametrize("name", ["district", "town", "village"])
def test_every_matter_of_a_bundled_hall_has_a_window(name: str) -> None:
    cfg = bundled(name)
    for m in cfg.matters:
        assert cfg.windows_serving(m.queue), m.code


def test_integrated_domain_is_served_by_no_difference_windows_and_its_own_window() -> None:
    cfg = bundled("district")
    assert set(cfg.integrated_domains) == {"social_insurance", "medical_insurance"}
    no_difference = {w.number for w in cfg.windows if w.kind is WindowKind.NO_DIFFERENCE}
    # B = social insurance (integrated): windows 1-5, its domain window 6, and tide window 12
    assert set(cfg.windows_serving("B")) == no_difference | {6, 12}
    assert set(cfg.windows_serving("C")) == no_difference | {7, 12}
    # D = tax (not integrated yet): only the tax window
    assert cfg.windows_serving("D") == (8,)
    # a no-difference window serves its own queues first, then the integrated domains
    assert cfg.window_queues(1) == ("M", "A", "B", "C")
    assert cfg.window_queues(6) == ("B",)


def test_integrating_a_domain_is_a_setting() -> None:
    raw = tomllib.loads((BUNDLED_HALLS_DIR / "district.toml").read_text(encoding="utf-8"))
    raw["integrated_domains"] = [*raw["integrated_domains"], "tax"]
    cfg = parse_hall(raw)
    assert set(cfg.windows_serving("D")) == {1, 2, 3, 4, 5, 8, 12}


# ---- mistakes, each named by field -----------------------------------------------------


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    """Mutator setting a dotted path like 'windows.1.number' (list indexes as numbers)."""

    def mutate(raw: Raw) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop(path: str) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


MISTAKES: list[tuple[str, Callable[[Raw], None], str, str]] = [
    ("duplicate window number", _set("windows.1.number", 1), "windows[1].number", "used twice"),
    ("window number not a number", _set("windows.0.number", "1"), "windows[0].number",
     "whole number"),
    ("window kind", _set("windows.0.kind", "vip"), "windows[0].kind", "no_difference"),
    ("window serves an unknown queue", _set("windows.1.queues", ["Z"]), "windows[1].queues",
     "unknown queue 'Z'"),
    ("window lists a queue twice", _set("windows.1.queues", ["A", "A"]), "windows[1].queues",
     "twice"),
    ("window serves nothing", _set("windows.1.queues", []), "windows[1].queues",
     "at least one queue"),
    ("unknown specialty on a window", _set("windows.0.specialties", ["karaoke"]),
     "windows[0].specialties", "unknown specialty"),
    ("letter clash", _set("queues.1.letter", "A"), "queues[1].letter", "already used"),
    ("letter not a capital", _set("queues.1.letter", "b"), "queues[1].letter", "capital letter"),
    ("unknown domain on a queue", _set("queues.1.domain", "weather"), "queues[1].domain",
     "unknown domain"),
    ("matter in an unknown queue", _set("matters.0.queue", "Q"), "matters[0].queue",
     "unknown queue 'Q'"),
    ("duplicate matter code", _set("matters.1.code", "MZ-JZ"), "matters[1].code",
     "already used"),
    ("expected minutes not a number", _set("matters.0.expected_minutes", "ten"),
     "matters[0].expected_minutes", "number"),
    ("expected minutes too small", _set("matters.0.expected_minutes", 0),
     "matters[0].expected_minutes", "at least"),
    ("matter name missing", _drop("matters.0.name_zh"), "matters[0].name_zh", "missing"),
    ("bad level", _set("hall.level", "province"), "hall.level", "city, county, town, village"),
    ("bad time zone", _set("hall.timezone", "Mars/Olympus"), "hall.timezone", "unknown time zone"),
    ("hall id with spaces", _set("hall.id", "my hall"), "hall.id", "letters, digits"),
    ("opening period backwards", _set("hall.hours.periods", ["12:00-09:00"]),
     "hall.hours.periods[0]", "09:00-12:00"),
    ("opening periods not a list", _set("hall.hours.periods", 5), "hall.hours.periods",
     "must be a list"),
    ("weekday out of range", _set("hall.hours.weekdays", [0, 8]), "hall.hours.weekdays",
     "ISO weekdays"),
    ("unknown integrated domain", _set("integrated_domains", ["weather"]), "integrated_domains",
     "unknown domain"),
    ("unknown priority group", _set("priority_groups", ["vip"]), "priority_groups",
     "unknown priority group"),
    ("negative rule", _set("rules", {"rejoin_minutes": -5}), "rules.rejoin_minutes",
     "at least 0"),
    ("rule of the wrong type", _set("rules", {"max_rejoins": True}), "rules.max_rejoins",
     "number"),
    ("misspelt field", _set("windows.0.quues", ["A"]), "windows[0].quues", "unknown field"),
    ("misspelt rule", _set("rules", {"rejoin_minute": 5}), "rules.rejoin_minute",
     "unknown field"),
    ("staff at an unknown window", _set("staff.0.windows", [9]), "staff[0].windows",
     "unknown window 9"),
    ("staff role", _set("staff.0.role", "boss"), "staff[0].role", "clerk or manager"),
    ("duplicate staff id", _set("staff.1.id", "T01"), "staff[1].id", "used twice"),
    ("too few clerks", _set("staff", [{"id": "X", "name": "x", "staff_number": "1"}]), "staff",
     "cannot staff"),
    ("windows not an array of tables", _set("windows", {"number": 1}), "windows",
     "array of tables"),
    ("voice not a table", _set("voice", "loud"), "voice", "must be a table"),
]


@pytest.mark.parametrize(("field", "expect"), [(m[2], m[3]) for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_explained_by_field(field: str, expect: str) -> None:
    mutate = next(m[1] for m in MISTAKES if m[2] == field and m[3] == expect)
    found = problems(mutate)
    assert any(p.startswith(f"{field}: ") and expect in p for p in found), found


def test_a_matter_no_window_serves() -> None:
    def mutate(raw: Raw) -> None:
        for w in raw["windows"]:
            w["queues"] = [q for q in w["queues"] if q != "H"] or ["A"]

    found = problems(mutate)
    assert "queues[2]: no window serves queue 'H'" in found
    assert "matters[4]: no window serves matter 'TS-BB' (queue 'H')" in found


def test_a_domain_queue_served_only_through_integration_needs_the_integration() -> None:
    # the town has no social-insurance window; with window 4 serving only A, queue B is
    # reached only because its domain is integrated into the no-difference windows
    raw = town_raw()
    raw["windows"][3]["queues"] = ["A"]
    assert set(parse_hall(raw).windows_serving("B")) == {1, 2, 3, 4, 5}

    def mutate(raw: Raw) -> None:
        raw["windows"][3]["queues"] = ["A"]
        raw["integrated_domains"] = ["tax"]

    found = problems(mutate)
    assert any(p.startswith("matters[2]: no window serves matter 'SB-CB'") for p in found)


def test_a_queue_without_matters() -> None:
    found = problems(lambda raw: raw["queues"].append(
        {"letter": "Z", "name_zh": "空", "name_en": "Empty"}))
    assert "queues[3]: queue 'Z' has no matter" in found


def test_every_problem_is_reported_in_one_pass() -> None:
    def mutate(raw: Raw) -> None:
        _set("windows.1.number", 1)(raw)
        _set("queues.1.letter", "A")(raw)
        _set("hall.level", "province")(raw)
        _set("hall.timezone", "Nowhere/Land")(raw)

    fields = {p.split(":")[0] for p in problems(mutate)}
    assert {"windows[1].number", "queues[1].letter", "hall.level", "hall.timezone"} <= fields


def test_lists_written_inside_the_hall_table_are_read_too() -> None:
    """TOML puts a key written after [hall] inside it; the hall still gets its setting."""

    def mutate(raw: Raw) -> None:
        raw["hall"]["integrated_domains"] = raw.pop("integrated_domains")

    raw = town_raw()
    mutate(raw)
    assert parse_hall(raw).integrated_domains == tuple(town_raw()["integrated_domains"])


def test_missing_file_and_broken_toml(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as err:
        load_hall(tmp_path / "nope.toml")
    assert err.value.problems == ["file: not found"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall\nid = 1", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hall(bad)
    assert err.value.problems[0].startswith("file: not valid TOML")


def test_an_empty_file_names_every_missing_part(tmp_path: Any) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hall(empty)
    fields = {p.split(":")[0] for p in err.value.problems}
    assert {"hall", "queues", "matters", "windows"} <= fields
