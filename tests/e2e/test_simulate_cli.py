"""``hall simulate`` as an operator runs it: tables on stdout, CSV and SVG files on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_simulate_compares_policies_and_writes_the_day(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hall.cli", "simulate", "--hall", "district", "--seeds", "2",
         "--policy", "off,predictive", "--surge", "10:00-10:30:1.5:SB-YLJ,SB-CB",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    table = out.split("\n\n")[-1]
    assert "policy" in table and "\noff " in table and "\npredictive " in table
    assert "window-hours" in out and "开放12号潮汐窗口" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"district-{p}-seed1{suffix}" for p in ("off", "predictive")
                           for suffix in ("-timeline.csv", "-tickets.csv", ".svg"))
    assert (tmp_path / "district-predictive-seed1.svg").read_text().startswith("<svg")


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    for args in (["--policy", "magic"], ["--hall", "atlantis"], ["--surge", "ten-eleven"]):
        run = subprocess.run([sys.executable, "-m", "hall.cli", "simulate", *args,
                              "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode != 0 and "Traceback" not in run.stderr, (args, run.stderr)
