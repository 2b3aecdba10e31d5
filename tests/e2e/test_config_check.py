"""`hall config check FILE` as an operator runs it: every mistake by field, non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hall.config import BUNDLED_HALLS_DIR, bundled_hall_files
from tests.support import ROOT


def check(*files: Path | str, on: str | None = None) -> subprocess.CompletedProcess[str]:
    when = ["--on", on] if on else []
    return subprocess.run([sys.executable, "-m", "hall.cli", "config", "check", *when,
                           *map(str, files)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_warns_of_a_booking_horizon_without_holiday_file(tmp_path: Path) -> None:
    """The hall's calendar lacks the State Council schedule of a year that booking reaches:
    a clear warning (not an error) saying what those days do meanwhile."""
    town = next(f for f in bundled_hall_files() if f.stem == "town")
    path = tmp_path / "town.toml"
    path.write_text(town.read_text(encoding="utf-8") + "\n[appointments]\nhorizon_days = 60\n",
                    encoding="utf-8")
    quiet = check(path, on="2026-06-01")  # 2026's file is bundled; the horizon ends in July
    assert quiet.returncode == 0 and "warning" not in quiet.stdout, quiet.stdout
    warned = check(path, on="2098-12-10")  # horizon to 2099-02-08: two years without a file
    assert warned.returncode == 0, warned.stdout + warned.stderr
    lines = [line for line in warned.stdout.splitlines() if "holiday file" in line]
    assert len(lines) == 2, warned.stdout
    assert "no national holiday file for 2098 (hall/holidays/2098.toml)" in lines[0]
    assert "no national holiday file for 2099" in lines[1]
    assert "booking reaches 2099-02-08 (appointments.horizon_days = 60)" in lines[1]
    assert "follow the weekly hours alone" in lines[1] and "provisional" in lines[1]
    bad = check(path, on="2026-13-01")
    assert bad.returncode == 2 and "'--on' must be a date" in bad.stdout + bad.stderr


def test_bundled_halls_pass() -> None:
    files = bundled_hall_files()
    assert {f.stem for f in files} >= {"district", "town", "village"}
    result = check(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "district.toml: OK — hall 'district' (county), 12 windows" in result.stdout
    assert "town.toml: OK — hall 'town' (town), 5 windows" in result.stdout
    assert "village.toml: OK — hall 'village' (village), 1 windows" in result.stdout


BROKEN = """
integrated_domains = ["social_insurance", "weather"]

[hall]
id = "broken"
name_zh = "坏大厅"
name_en = "Broken hall"
level = "province"
timezone = "Asia/Atlantis"

[[queues]]
letter = "A"
name_zh = "综合"
name_en = "General"

[[queues]]
letter = "A"
name_zh = "又一个A"
name_en = "Another A"

[[queues]]
letter = "T"
name_zh = "税务"
name_en = "Tax"
domain = "tax"

[[matters]]
code = "X1"
name_zh = "事项"
name_en = "Matter"
queue = "A"

[[matters]]
code = "X2"
name_zh = "无处办理"
name_en = "Nowhere to go"
queue = "T"

[[matters]]
code = "X3"
name_zh = "未知队列"
name_en = "Unknown queue"
queue = "Q"

[[windows]]
number = 1
name_zh = "一号"
name_en = "One"
kind = "no_difference"
queues = ["A", "Z"]

[[windows]]
number = 1
name_zh = "又一号"
name_en = "One again"
kind = "no_difference"
queues = ["A"]
colour = "red"

[[staff]]
id = "P1"
name = "甲"
staff_number = "1"

[[staff]]
id = "P2"
name = "乙"
staff_number = "2"
"""


def test_a_broken_file_gets_every_mistake_by_field(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    result = check(path)
    assert result.returncode != 0
    out = result.stdout
    expected = [
        "hall.level: must be one of city, county, town, village; got 'province'",
        "hall.timezone: unknown time zone 'Asia/Atlantis'",
        "queues[1].letter: letter 'A' is already used by another queue",
        "matters[2].queue: unknown queue 'Q'",
        "windows[0].queues: unknown queue 'Z'",
        "windows[1].number: window number 1 is used twice",
        "windows[1].colour: unknown field",
        "integrated_domains: unknown domain 'weather'",
        "queues[2]: no window serves queue 'T'",
        "matters[1]: no window serves matter 'X2' (queue 'T')",
    ]
    for line in expected:
        assert f"  - {line}" in out, f"missing {line!r} in:\n{out}"
    assert out.startswith(f"{path}: ") and "problem(s)" in out.splitlines()[0]
    assert "Traceback" not in result.stderr


def test_one_bad_file_among_good_ones_fails_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall\n", encoding="utf-8")
    result = check(BUNDLED_HALLS_DIR / "village.toml", bad, tmp_path / "missing.toml")
    assert result.returncode != 0
    assert "village.toml: OK" in result.stdout
    assert f"{bad}: 1 problem(s)" in result.stdout and "not valid TOML" in result.stdout
    assert "missing.toml: 1 problem(s)" in result.stdout and "file: not found" in result.stdout


def test_a_province_file_is_checked_template_by_template(tmp_path: Path) -> None:
    """A province file (``hall province generate``): checked, not refused: its table, each
    template fully once, and its generated ids unique, also against the other files."""
    from hall.config.province import province_text

    good = tmp_path / "province.toml"
    good.write_text(province_text({"district": 2, "town": 30, "village": 400}, cities=5),
                    encoding="utf-8")
    result = check(good, *bundled_hall_files(), on="2026-06-01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f"{good}: OK — province file, 432 halls from 3 template(s) over 5 cities, "
            "ids unique") in result.stdout
    assert "  template 'district': 2 halls (county), 12 windows" in result.stdout
    assert "  template 'village': 400 halls (village), 1 windows" in result.stdout

    # a template of its own with a mistake, a missing one, a prefix used twice, and an
    # id another file defines: all reported at once, by field
    (tmp_path / "mine.toml").write_text(BROKEN, encoding="utf-8")
    district = (BUNDLED_HALLS_DIR / "district.toml").read_text(encoding="utf-8")
    clash = tmp_path / "clash.toml"
    clash.write_text(district.replace('id = "district"', 'id = "t00001"', 1), encoding="utf-8")
    bad = tmp_path / "bad-province.toml"
    bad.write_text("""
[province]
cities = 2

[[province.halls]]
template = "mine.toml"
count = 3
prefix = "m"

[[province.halls]]
template = "twon"
count = 3
prefix = "x"

[[province.halls]]
template = "town"
count = 3
prefix = "t"

[[province.halls]]
template = "village"
count = 5
prefix = "t"
""", encoding="utf-8")
    result = check(clash, bad)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"{clash}: OK" in out
    assert "province.halls[0].template 'mine.toml': hall.timezone: unknown time zone" in out
    assert "province.halls[0].template 'mine.toml': windows[1].colour: unknown field" in out
    assert "province.halls[1].template: no template 'twon'" in out
    assert ("province.halls[3].prefix: hall id 't00001' is generated twice (and 2 more ids)"
            in out)
    assert "is refused" not in out and "load it with" not in out

    # the same province file alone, mended: the clash with the other file is named
    bad.write_text(bad.read_text(encoding="utf-8").replace('"mine.toml"', '"district"')
                   .replace('"twon"', '"town"').replace('count = 5\nprefix = "t"',
                                                       'count = 5\nprefix = "v"'),
                   encoding="utf-8")
    result = check(clash, bad)
    assert result.returncode == 1, result.stdout
    assert f"{bad}: 1 problem(s)" in result.stdout
    assert f"hall ids: 't00001' is already defined by {clash}" in result.stdout
