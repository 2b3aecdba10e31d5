"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import AppProcess

# A page's assertions wait up to 10 s (Playwright's default is 5 s): on a loaded CI machine
# a live update has taken longer than 5 s to paint; how fast it is, is for benchmarks.
expect.set_options(timeout=10_000)


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[AppProcess]:
    """One real ``hall serve`` process on the test Redis, its log in the test's folder."""
    proc = AppProcess(redis_url, log_path=tmp_path / "app.log").start()
    yield proc
    proc.stop()
