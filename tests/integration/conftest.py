"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import AppProcess


@pytest.fixture
def two_apps(redis_url: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    """Two real ``hall serve`` processes on the test's Redis, each with its own data folder."""
    apps = [AppProcess(redis_url, extra_env={"HALL_DATA": str(tmp_path / f"app{i}")},
                       log_path=tmp_path / f"app{i}.log") for i in range(2)]
    try:
        for app in apps:
            app.start()
        yield apps
    finally:
        for app in apps:
            app.stop()
