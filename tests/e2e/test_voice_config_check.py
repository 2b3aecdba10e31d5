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
