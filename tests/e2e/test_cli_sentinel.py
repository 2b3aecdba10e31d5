"""`hall report` through Sentinel: the CLI builds its client in hall.redis_conn like the app,
so REDIS_SENTINELS (no REDIS_URL) reaches the primary the sentinels name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from tests.e2e.deployment import PASSWORD, Deployment, start_sentinel_group
from tests.support import ROOT


def test_report_commands_work_under_sentinel(tmp_path: Path) -> None:
    d = Deployment(tmp_path, apps=1, own_redis=False, worker=False, proxy=False)
    group = start_sentinel_group(d.services, tmp_path)
    try:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(REDIS_SENTINELS=group.sentinels, REDIS_PASSWORD=PASSWORD,
                   HALL_DATA=str(tmp_path / "data"))

        def hall(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "hall.cli", *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=60)

        rolled = hall("report", "rollup", "--hall", "district", "--day", "2026-11-18")
        assert rolled.returncode == 0, rolled.stderr
        assert "district 20261118: issued 0, served 0" in rolled.stdout
        primary = redis.Redis(port=group.primary_port, password=PASSWORD)
        assert primary.exists("hall:{district}:agg:20261118")  # stored on the primary
        shown = hall("report", "show", "--hall", "district", "--from", "2026-11-18", "--csv")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("dimension,key,name,issued")
        assert not (tmp_path / "data").exists()  # no embedded Redis was started instead
    finally:
        group.stop()
