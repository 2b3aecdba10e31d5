"""Files only this user may read: the data folder (0700), Redis' files and the
credentials file (0600), created so from the start (umask), never chmod-ed afterwards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077


@contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside are readable by this user only (0600/0700)."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) 0700; tighten an existing one that others could read."""
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def write_private(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically and durably, 0600 from the first byte:
    a temporary file beside it, fsync, rename over ``path``, fsync the folder."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with private_umask():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
