"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AppProcess


@pytest.fixture
def app(redis_url: str, tmp_path: Path) -> Iterator[AppProcess]:
    """One real ``hall serve`` process on the test Redis, its log in the test's folder."""
    proc = AppProcess(redis_url, log_path=tmp_path / "app.log").start()
    yield proc
    proc.stop()
