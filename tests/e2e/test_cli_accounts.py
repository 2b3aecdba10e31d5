"""`hall user add` / `hall device add` as an operator runs them: bad input is refused by
name, nothing is written, and no traceback is printed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.support import ROOT

PASSWORD = "long enough password"


@pytest.fixture
def hall(redis_url: str):  # type: ignore[no-untyped-def]
    env = {**os.environ, "REDIS_URL": redis_url}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hall.cli", *args], cwd=ROOT, env=env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    return run


def users(redis_url: str) -> set[bytes]:
    return set(redis.Redis.from_url(redis_url).smembers("{auth}:users"))


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_user_add_refuses_unknown_staff_hall_and_existing_name(hall, redis_url) -> None:
    ok = hall("user", "add", "li", "--role", "clerk", "--hall", "district", "--staff", "S01",
              "--password", PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert users(redis_url) == {b"li"}
    refused(hall("user", "add", "wang", "--role", "clerk", "--hall", "district",
                 "--staff", "S99", "--password", PASSWORD), "--staff", "S99")
    refused(hall("user", "add", "wang", "--role", "manager", "--hall", "atlantis",
                 "--password", PASSWORD), "--hall", "atlantis")
    refused(hall("user", "add", "wang", "--role", "clerk", "--password", PASSWORD), "--hall")
    refused(hall("user", "add", "li", "--role", "clerk", "--hall", "district", "--staff", "S02",
                 "--password", PASSWORD), "exists", "--replace")
    refused(hall("user", "add", "zhao", "--role", "admin", "--password", "short"),
            "12 characters")
    assert users(redis_url) == {b"li"}
    again = hall("user", "add", "li", "--role", "clerk", "--hall", "district", "--staff", "S02",
                 "--replace", "--password", PASSWORD)
    assert again.returncode == 0, again.stderr


def test_device_add_refuses_unknown_hall_and_window(hall, redis_url) -> None:
    refused(hall("device", "add", "--hall", "atlantis", "--kind", "kiosk"), "atlantis")
    refused(hall("device", "add", "--hall", "district", "--kind", "pad", "--window", "99"),
            "window 99")
    made = hall("device", "add", "--hall", "district", "--kind", "pad", "--window", "1")
    assert made.returncode == 0 and made.stdout.strip(), made.stderr


def test_report_refuses_unknown_hall(hall) -> None:
    refused(hall("report", "show", "--hall", "atlantis", "--from", "2026-11-18"), "atlantis")
