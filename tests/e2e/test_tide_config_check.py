"""``hall config check`` also explains mistakes in a hall's [tide] table, by field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_config_check_names_bad_tide_settings(tmp_path: Path) -> None:
    text = (ROOT / "hall" / "halls" / "town.toml").read_text(encoding="utf-8")
    bad = tmp_path / "town.toml"
    bad.write_text(text.replace('policy = "threshold"', 'policy = "clairvoyant"')
                   .replace("close_waiting = 2", "close_waiting = 9"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "hall.cli", "config", "check", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "tide.policy: must be one of off, threshold, predictive; got 'clairvoyant'" in run.stdout
    assert "tide.close_waiting: must be below open_waiting" in run.stdout
    good = subprocess.run([sys.executable, "-m", "hall.cli", "config", "check",
                           str(ROOT / "hall" / "halls" / "district.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "OK" in good.stdout
