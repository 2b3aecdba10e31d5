"""The README's first run: ``hall serve`` alone (embedded Redis on a Unix socket, its own RQ
worker) speaks a call with no extra step."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import first_run
from tests.voice_support import StreamWatch, wav_info


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    with first_run(tmp_path) as running:
        yield running


def test_first_run_speaks_calls(served) -> None:
    base, data, proc = served
    credentials = (data / "initial-credentials.txt").read_text(encoding="utf-8")
    link = re.search(r"district-S01  set-up link: (\S+)", credentials).group(1)  # type: ignore[union-attr]
    assert link.startswith(f"{base}/account#setup="), link
    kiosk = re.search(r"/h/district/kiosk\?device=(\S+)", credentials).group(1)  # type: ignore[union-attr]
    # the clerk chooses a password on the set-up link (as its page does) and is signed in
    token = httpx.post(f"{base}/api/setup", json={"token": link.split("#setup=", 1)[1],
                                                  "password": "the clerk's own passphrase"}
                       ).json()["token"]
    clerk = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert clerk.post("/api/halls/district/windows/1/login").status_code == 200
    issued = httpx.post(f"{base}/api/halls/district/tickets", json={"matter": "QY-KB"},
                        headers={"Authorization": f"Bearer {kiosk}"})
    assert issued.status_code == 201, issued.text
    number = clerk.post("/api/halls/district/windows/1/call-next").json()["ticket"]["number"]
    # The embedded Redis listens on a Unix socket in the data folder.
    watch = StreamWatch(redis.Redis(unix_socket_path=str(data / "redis.sock")), "district")
    found = watch.wait_for("voice.announce", timeout=30)
    assert [d["number"] for _, d in found] == [number], (data.parent / "serve.log").read_text()
    audio = httpx.get(base + found[0][1]["audio"])
    assert audio.status_code == 200
    assert wav_info(audio.content).rms > 1000
    assert (data / "audio" / found[0][1]["audio"].rsplit("/", 1)[1]).is_file()

    # Stopping `hall serve` (SIGTERM, as systemd or docker do) stops its worker and Redis.
    socket = str(data / "redis.sock")
    workers = [redis.Redis(unix_socket_path=socket).hget(k, "pid")
               for k in redis.Redis(unix_socket_path=socket).smembers("rq:workers")]
    pids = [int(p) for p in workers if p]
    assert pids, "the embedded worker is registered with RQ"
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 15
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids), "the worker outlived hall serve"
    with pytest.raises(redis.ConnectionError):
        redis.Redis(unix_socket_path=socket).ping()
