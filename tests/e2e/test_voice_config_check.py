"""``hall config check`` also explains mistakes in a hall's [voice] table, by field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hall.cli", "config", "check", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_config_check_names_bad_voice_settings(tmp_path: Path) -> None:
    text = (ROOT / "hall" / "halls" / "village.toml").read_text(encoding="utf-8")
    bad = tmp_path / "village.toml"
    bad.write_text(text.replace("repeat = 3", "repeat = 12")
                   .replace('number_style = "digits"', 'number_style = "roman"'),
                   encoding="utf-8")
    run = check(bad)
    assert run.returncode == 1
    assert "voice.repeat: must be from 1 to 5, got 12" in run.stdout
    assert "voice.number_style: must be 'digits' (A零零一号) or 'number' (A一号)" in run.stdout
    assert check(ROOT / "hall" / "halls" / "village.toml").returncode == 0


def test_config_check_warns_about_a_letter_heard_as_a_digit(tmp_path: Path) -> None:
    text = (ROOT / "hall" / "halls" / "district.toml").read_text(encoding="utf-8")
    assert 'zh = { E = "Edward", G = "Golf", J = "Jack" }' in text
    risky = tmp_path / "district.toml"
    # The hall reads E and G by their plain names: in Mandarin, yì and zhì.
    risky.write_text(text.replace('zh = { E = "Edward", G = "Golf", J = "Jack" }',
                                  'zh = { E = "E", G = "G" }'), encoding="utf-8")
    run = check(risky)
    assert run.returncode == 0, run.stdout  # a warning: the hall still starts
    # the voice's warnings (from mid-December the calendar also warns of next year's
    # missing holiday file: not this test's subject)
    warnings = [line for line in run.stdout.splitlines() if "warning: voice." in line]
    assert len(warnings) == 2, run.stdout
    assert "voice.letters.zh.E: queue letter E is read 'E'" in warnings[0]
    assert "close to the digit 一" in warnings[0]
    assert "voice.letters.zh.G" in warnings[1] and "close to the digit 七" in warnings[1]
    for name in ("district", "town", "village"):  # the bundled halls: nothing to warn about
        ok = check(ROOT / "hall" / "halls" / f"{name}.toml")
        assert ok.returncode == 0 and "warning: voice." not in ok.stdout, ok.stdout


def test_config_check_warns_about_a_template_with_no_pause_before_the_window(
        tmp_path: Path) -> None:
    text = (ROOT / "hall" / "halls" / "district.toml").read_text(encoding="utf-8")
    old = 'zh_call = "请{number}号，到{window}号窗口办理"'
    assert old in text
    run_on = tmp_path / "district.toml"
    run_on.write_text(text.replace(old, 'zh_call = "请{number}号到{window}号窗口办理"'),
                      encoding="utf-8")
    run = check(run_on)
    assert run.returncode == 0, run.stdout
    assert "warning: voice.templates.zh_call: no pause between {number} and {window}" \
        in run.stdout
