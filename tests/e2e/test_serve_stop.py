"""``hall serve`` stopped while it starts leaves nothing running behind it.

An operator (or systemd, or a container runtime) may stop the hall while it is still
starting: the embedded Redis is up, the first start is writing accounts. The embedded
Redis must stop with it, or the next start finds a server nobody owns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT, free_port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of nobody we wait for still answers kill(0): read its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_sigterm_during_start_stops_the_embedded_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "HALL_FILES",
                        "HALL_PUBLIC_URL")}
    env["HALL_START_WORKER"] = "0"
    data = tmp_path / "var"
    pid_file = data / "redis.pid"
    log_path = tmp_path / "serve.log"
    with open(log_path, "ab") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "hall.cli", "serve", "--data", str(data),
             "--port", str(free_port()), "--no-worker", "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        # the moment the embedded Redis exists: the app is still starting (first start)
        _wait(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 60,
              "the embedded Redis never started")
        redis_pid = int(pid_file.read_text())
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        _wait(lambda: not _alive(redis_pid), 30,
              f"the embedded Redis ({redis_pid}) outlived hall serve: "
              f"{log_path.read_text()[-2000:]}")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            pid = int(pid_file.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
