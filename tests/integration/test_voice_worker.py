"""A real ``hall worker`` speaks the calls an app dispatches; a dead worker holds up no call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from hall.app import create_app
from hall.auth import Role
from hall.config import HallConfig
from hall.settings import Settings
from tests.conftest import Accounts
from tests.voice_support import StreamWatch, WorkerProcess, wav_info, with_voice

MAX_AGE = 5.0  # the smallest a hall may set; keeps the stale test short


@pytest.fixture
def hall_app(redis_url: str, halls: dict[str, HallConfig], tmp_path: Path
             ) -> Iterator[tuple[TestClient, Accounts]]:
    """The app with its dispatcher, on the real clock (the worker has no fake clock)."""
    settings = Settings(redis_url=redis_url, data_dir=tmp_path, start_worker=False,
                        always_open=True)
    app = create_app(settings, halls=with_voice(halls, max_age_seconds=MAX_AGE),
                     clock=time.time)
    with TestClient(app) as client:
        yield client, Accounts(client)


@pytest.fixture
def worker(redis_url: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    w = WorkerProcess(redis_url, tmp_path, log_path=tmp_path / "worker.log")
    yield w
    w.stop()


def call_one(client: TestClient, accounts: Accounts, clerk: dict[str, str], window: int
             ) -> str:
    kiosk = accounts.device(Role.KIOSK)
    issued = client.post("/api/halls/district/tickets", json={"matter": "QY-KB"}, headers=kiosk)
    assert issued.status_code == 201, issued.text
    called = client.post(f"/api/halls/district/windows/{window}/call-next", headers=clerk)
    assert called.status_code == 200, called.text
    number: str = called.json()["ticket"]["number"]
    return number


def login(client: TestClient, accounts: Accounts, staff: str, window: int) -> dict[str, str]:
    clerk = accounts.clerk(staff)
    r = client.post(f"/api/halls/district/windows/{window}/login", headers=clerk)
    assert r.status_code == 200, r.text
    return clerk


def test_worker_speaks_a_call_and_the_app_serves_it(hall_app, worker, redis_url) -> None:
    client, accounts = hall_app
    worker.start()
    clerk = login(client, accounts, "S01", 5)
    watch = StreamWatch(redis.Redis.from_url(redis_url), "district")
    number = call_one(client, accounts, clerk, 5)
    (announce_id, data), = watch.wait_for("voice.announce", timeout=20)
    assert data["number"] == number and data["window"] == 5 and data["kind"] == "call"
    assert data["texts"]["zh"] == f"请{number}号，到5号窗口办理"
    assert data["texts"]["en"] == f"Number {number}, please go to window 5"
    assert data["repeat"] == 2 and data["max_age"] == MAX_AGE
    called = watch.of_type("ticket.called")
    assert called and data["call_id"] == called[0][0]
    assert announce_id > data["call_id"]  # announced after the call, never before
    audio = client.get(data["audio"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    info = wav_info(audio.content)
    assert info.rms > 1000 and info.seconds > 3.0  # Chinese then English
    # A recall has its own words and its own announcement.
    assert client.post("/api/halls/district/windows/5/recall", headers=clerk).status_code == 200
    found = watch.wait_for("voice.announce", count=2, timeout=20)
    assert len(found) == 2, found
    assert found[1][1]["kind"] == "recall" and "尽快" in found[1][1]["texts"]["zh"]


def test_calls_never_wait_for_voice_and_stale_ones_stay_silent(hall_app, worker,
                                                                redis_url) -> None:
    client, accounts = hall_app
    clerk = login(client, accounts, "S01", 1)
    watch = StreamWatch(redis.Redis.from_url(redis_url), "district")
    started = time.monotonic()
    first = call_one(client, accounts, clerk, 1)
    # The worker is down: the call is on the stream (so on every board) at once.
    assert [d["ticket"]["number"] for _, d in watch.of_type("ticket.called")] == [first]
    assert time.monotonic() - started < 2.0
    state = client.get("/api/halls/district/state")  # what a board loads on connect
    assert state.status_code == 200 and first in state.text
    time.sleep(MAX_AGE + 1.0)
    worker.start()  # back, after the call has grown too old to be said
    for staff_step in ("start", "finish"):
        assert client.post(f"/api/halls/district/windows/1/{staff_step}",
                           headers=clerk).status_code == 200
    second = call_one(client, accounts, clerk, 1)
    found = watch.wait_for("voice.announce", timeout=20)
    # voice resumed; the stale one dropped. No wait is needed to prove it stays silent: its
    # job was queued first, and the one worker takes jobs in order, so it was handled (and
    # dropped) before the second call was said.
    assert [d["number"] for _, d in found] == [second]


def test_speech_runs_in_the_worker_and_other_jobs_are_forked(worker, redis_url) -> None:
    import os

    from rq import Queue

    from hall.jobs import REPORTS_QUEUE

    worker.start()
    job = Queue(REPORTS_QUEUE, connection=redis.Redis.from_url(redis_url)).enqueue(os.getpid)
    deadline = time.monotonic() + 20
    while job.get_status(refresh=True) not in ("finished", "failed") and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.get_status() == "finished"
    assert worker.process is not None and job.return_value() != worker.process.pid


def test_synthesis_counts_of_the_workers_are_metrics(hall_app, redis_url) -> None:
    from voice.announce import synthesis_key

    client, _ = hall_app
    sync = redis.Redis.from_url(redis_url)
    sync.hset(synthesis_key("district"), mapping={"retried": 3, "failed": 1})  # as jobs count
    page = client.get("/metrics").text
    assert 'hall_voice_synthesis{hall="district",outcome="retried"} 3.0' in page
    assert 'hall_voice_synthesis{hall="district",outcome="failed"} 1.0' in page
    assert 'hall_voice_synthesis{hall="district",outcome="replaced"} 0.0' in page
