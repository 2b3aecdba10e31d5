"""Real parts for tests: a Redis server process, app processes, a controllable clock."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from hall.redis_server import redis_server_binary

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hall", "ticketing", "tide", "voice", "displays")
ERROR_CODE_PATTERNS = (
    re.compile(r'\bcode ?= ?"([a-z_]+)"'),           # class attribute or code="…"
    re.compile(r'error_response\(\s*\d+,\s*"([a-z_]+)"'),  # a handler's own answer
    re.compile(r'\b\d{3}: "([a-z_]+)"'),              # HTTP status → code tables
    re.compile(r'"code": "([a-z_]+)"'),               # an error body written out
)


def error_codes() -> set[str]:
    """Every error code written in any package's source (docs and catalogue tests)."""
    codes: set[str] = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for pattern in ERROR_CODE_PATTERNS:
                codes |= set(pattern.findall(text))
    return codes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# PTTL of each key, then PEXPIRE it that much sooner, or UNLINK it if that is past
_MOVE_EXPIRY = """
local ms, gone, moved = tonumber(ARGV[1]), 0, 0
for _, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  if t > 0 then
    if t <= ms then redis.call('UNLINK', k); gone = gone + 1
    else redis.call('PEXPIRE', k, t - ms); moved = moved + 1 end
  end
end
return {gone, moved}
"""


def move_expiry_clock(client: redis.Redis, seconds: float,
                      skip: re.Pattern[bytes] | None = None) -> tuple[int, int]:
    """Make ``seconds`` pass for Redis's expiry, which a controllable clock cannot move: every
    key with a TTL expires that much sooner (gone at once if its TTL is shorter). For tests
    and the soak (benchmarks/bench_soak.py) of lifetimes counted on Redis's own clock
    (``EXPIRE``); keys matching ``skip`` are left alone. Returns (keys gone, keys moved).
    One script per 1,000 keys: a key written meanwhile is moved at most one batch late."""
    ms = int(seconds * 1000)
    if ms <= 0:
        return 0, 0
    script = client.register_script(_MOVE_EXPIRY)
    gone = moved = 0
    batch: list[bytes] = []
    for key in [*client.scan_iter(count=1000), None]:
        if key is not None and not (skip and skip.search(key)):
            batch.append(key)
        if batch and (key is None or len(batch) == 1000):
            g, m = script(keys=batch, args=[ms])
            gone, moved, batch = gone + int(g), moved + int(m), []
    return gone, moved


@dataclass
class FakeClock:
    """A clock the test moves by hand (POSIX seconds)."""

    now: float = 1_795_000_000.0  # 2026-11-18, a Wednesday

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RedisServer:
    """A real redis-server on a loopback port, with AOF in its own folder."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    databases: int = 16384  # tests/conftest.py gives each test a database of its own
    appendfsync: str = "always"  # the durability tests kill it: every write on disk

    @property
    def url(self) -> str:
        return self.url_of(0)

    def url_of(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> RedisServer:
        """Start the server; a port taken meanwhile (parallel test workers) → another one."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._start_once():
                return self
            if self.process is not None and self.process.poll() is None:
                break  # running but not answering: not a port clash
            self.port = free_port()
        raise RuntimeError("redis-server did not start")

    def _start_once(self) -> bool:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", self.appendfsync,
             "--save", "", "--databases", str(self.databases),
             "--logfile", str(self.data_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    return False  # exited: most likely the port was taken
                time.sleep(0.05)
        return False

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=10)

    def restart(self, kill: bool = True) -> None:
        self.stop(kill=kill)
        self.start()


@contextmanager
def first_run(folder: Path, *, worker: bool = True,
              ) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """The README's first run: ``hall serve --data folder/var`` alone, on its embedded Redis
    (no Redis, hall file or public address from the environment), with its own RQ worker
    unless ``worker`` is False. Yields its address, data folder and process once
    ``/readyz`` answers 200; stops it afterwards. Its log is ``folder/serve.log``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "REDIS_SENTINELS", "REDIS_CLUSTER_NODES", "HALL_FILES",
                        "HALL_PUBLIC_URL", "HALL_START_WORKER")}
    data = folder / "var"
    command = [sys.executable, "-m", "hall.cli", "serve", "--data", str(data),
               "--port", str(port), "--log-level", "warning"]
    if not worker:
        command.append("--no-worker")
        env["HALL_START_WORKER"] = "0"
    log_path = folder / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        # a ceiling, not a wait: embedded Redis, the app and a worker on a loaded machine
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "hall serve did not start"
            time.sleep(0.1)
        yield base, data, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


@dataclass
class AppProcess:
    """``hall serve`` as a real process against a given Redis."""

    redis_url: str
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    log_level: str = "warning"
    args: list[str] = field(default_factory=list)  # more ``hall serve`` options

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppProcess:
        # Its own data folder (audio cache, first-start credentials), never the repo's ./var.
        # Open around the clock unless a test says otherwise (HALL_ALWAYS_OPEN=0); one
        # identity secret for every process, as a deployment has.
        env = {**os.environ, "HALL_ALWAYS_OPEN": "1",
               "HALL_IDENTITY_SECRET": "test-identity-secret",
               "REDIS_URL": self.redis_url, "HALL_START_WORKER": "0",
               "HALL_DATA": tempfile.mkdtemp(prefix="hall-app-"), **self.extra_env}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hall.cli", "serve", "--port", str(self.port),
             "--no-worker", "--log-level", self.log_level, *self.args],
            env=env, cwd=ROOT, stdout=log, stderr=log)
        # a ceiling, not a wait: a loaded CI machine (or 8 test runs on 2 cores) needs it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/api/halls", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.process.poll() is not None:
                raise RuntimeError("app process exited at start")
        raise RuntimeError("app process did not start")

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            (self.process.kill if kill else self.process.terminate)()
            self.process.wait(timeout=15)
