"""compose.yaml, started for real as local processes (no Docker).

``Deployment`` reads compose.yaml, interpolates its ``${VAR}`` references with a test
environment, and starts each service's own command: Debian's ``redis-server`` with the
redis service's options, ``hall serve`` for each app replica, ``hall worker``, and
``nginx`` with deploy/nginx.conf. Only what cannot be the same on one machine is
rewritten: ports (free loopback ports), data folders (a temp dir), and the upstream
list of nginx (one ``server`` line per local app process instead of Docker's DNS).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

from tests.support import ROOT, free_port

PASSWORD = "test-redis-secret"
COMPOSE = ROOT / "compose.yaml"


def need(binary: str) -> str:
    """A Debian binary the test starts; missing → the test fails (never a skip counted as a
    pass), also outside CI: scripts/test (or scripts/setup) installs it."""
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if
                                     os.path.exists(f"/usr/sbin/{binary}") else None)
    if found is None:
        raise RuntimeError(f"{binary} is missing: run scripts/test, which installs it")
    return found


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, applied recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name, "")
        if op == ":-":
            return current or arg
        if op == ":?" and not current:
            raise KeyError(f"{name}: {arg}")
        return current

    out = re.sub(r"(?<!\$)\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)
    return out.replace("$$", "$")


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, Any] = interpolate(data["services"], env)
    return services


def replace_arg(command: list[str], flag: str, value: str) -> list[str]:
    """The command with the value after ``flag`` replaced (the flag must be there)."""
    index = command.index(flag)
    return [*command[: index + 1], value, *command[index + 2:]]


def hall_command(command: list[str]) -> list[str]:
    assert command[0] == "hall", command
    return [sys.executable, "-m", "hall.cli", *command[1:]]


def redis_command(service: dict[str, Any], port: int, data: Path, primary: int | None
                  ) -> list[str]:
    command = list(service["command"])
    assert command[0] == "redis-server"
    command[0] = need("redis-server")
    command = replace_arg(command, "--port", str(port))
    command = replace_arg(command, "--dir", str(data))
    if "--replicaof" in command:
        index = command.index("--replicaof")
        command[index + 1: index + 3] = ["127.0.0.1", str(primary)]
    return [*command, "--bind", "127.0.0.1", "--logfile", str(data / "redis.log")]


def render_nginx(listen: int, upstreams: list[int] | list[Path], workdir: Path) -> Path:
    """deploy/nginx.conf with local ports (or the apps' Unix sockets) and paths; everything
    else as written."""
    # Temp paths first: the checkout itself (or the apps' sockets) may live under /tmp.
    text = (ROOT / "deploy" / "nginx.conf").read_text().replace("/tmp/", f"{workdir}/")
    addresses = [f"unix:{p}" if isinstance(p, Path) else f"127.0.0.1:{p}" for p in upstreams]
    servers = "\n".join(f"        server {a} max_fails=1 fail_timeout=5s;" for a in addresses)
    text, n = re.subn(r"^\s*server app:8000[^;]*;", servers, text, flags=re.M)
    assert n == 1
    text, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen};", text)
    assert n == 1
    text = text.replace("root /srv;", f"root {ROOT / 'displays'};")
    if os.geteuid() == 0:  # nginx as root would run workers as nobody
        text = "user root;\n" + text
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=out,
                                        stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def start_redis(service: dict[str, Any], port: int, data: Path, primary: int | None) -> Proc:
    """A compose Redis service (primary or replica) as a local redis-server."""
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc(data.name, redis_command(service, port, data, primary), dict(os.environ),
                data / "redis.out", port).start()
    client = redis.Redis(port=port, password=PASSWORD)
    wait_until(client.ping, 10, f"redis {data.name}")
    return proc


def start_sentinel(port: int, primary: int, data: Path) -> Proc:
    """deploy/sentinel.conf with a loopback primary and port, as compose's sentinels run it."""
    data.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "deploy" / "sentinel.conf").read_text()
    text = text.replace("@REDIS_PASSWORD@", PASSWORD)
    text = text.replace("port 26379", f"port {port}\nbind 127.0.0.1")
    text = text.replace("dir /data", f"dir {data}")
    text, n = re.subn(r"sentinel monitor hall redis 6379", f"sentinel monitor hall 127.0.0.1 "
                      f"{primary}", text)
    assert n == 1
    conf = data / "sentinel.conf"
    conf.write_text(text)
    proc = Proc(data.name, [need("redis-sentinel"), str(conf)], dict(os.environ),
                data / "sentinel.out", port).start()
    wait_until(lambda: redis.Redis(port=port).ping(), 30, f"sentinel {data.name}")
    return proc


def wait_replica_online(primary_port: int) -> None:
    """Wait until the primary's replica streams: a replica still in its first sync counts
    as connected but acknowledges nothing yet."""
    primary = redis.Redis(port=primary_port, password=PASSWORD)
    wait_until(lambda: primary.info("replication").get("slave0", {}).get("state") == "online",
               10, "replica online")


@dataclass
class SentinelGroup:
    """A primary, a replica and three sentinels on loopback: compose's failover profile."""

    procs: list[Proc]
    primary_port: int
    replica_port: int
    sentinel_ports: list[int]

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


def start_sentinel_group(services: dict[str, Any], folder: Path) -> SentinelGroup:
    """Start the group and return once the replica streams and the sentinels agree."""
    primary_port, replica_port = free_port(), free_port()
    group = SentinelGroup([], primary_port, replica_port, [free_port() for _ in range(3)])
    try:
        group.procs.append(start_redis(services["redis"], primary_port, folder / "primary", None))
        group.procs.append(start_redis(services["redis-replica"], replica_port,
                                       folder / "replica", primary_port))
        group.procs += [start_sentinel(p, primary_port, folder / f"sentinel{i}")
                        for i, p in enumerate(group.sentinel_ports)]
        wait_replica_online(primary_port)
        wait_until(lambda: redis.Redis(port=group.sentinel_ports[0]).sentinel_master("hall")
                   ["num-other-sentinels"] == 2, 15, "sentinels see each other")
    except BaseException:
        group.stop()
        raise
    return group


@dataclass
class Deployment:
    """redis + N app processes + worker + nginx, from compose.yaml."""

    workdir: Path
    apps: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    own_redis: bool = True  # False: the caller runs Redis (e.g. a Sentinel topology)
    worker: bool = True
    proxy: bool = True
    unix_sockets: bool = False  # nginx reaches each app on its socket (hall serve --uds)
    procs: dict[str, Proc] = field(default_factory=dict)
    redis_port: int = field(default_factory=free_port)
    proxy_port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=dict)  # chosen through set-up links

    def __post_init__(self) -> None:
        self.test_env = {"REDIS_PASSWORD": PASSWORD, **self.extra_env}
        self.services = load_compose(self.test_env)
        self.data = self.workdir / "hall-data"
        self.data.mkdir(parents=True, exist_ok=True)

    def hall_env(self, service: str) -> dict[str, str]:
        env = {k: str(v) for k, v in self.services[service]["environment"].items()}
        env = {k: v.replace("redis:6379", f"127.0.0.1:{self.redis_port}") for k, v in env.items()}
        env["HALL_DATA"] = str(self.data)
        env["HALL_SECURE_COOKIES"] = "0"  # plain http on loopback
        env["HALL_PUBLIC_URL"] = self.url  # the address of the first start's set-up links
        return {**os.environ, **env, **self.extra_env}

    def start(self) -> Deployment:
        if self.own_redis:
            self.procs["redis"] = start_redis(self.services["redis"], self.redis_port,
                                              self.workdir / "redis", None)
        for n in range(1, self.apps + 1):
            self.start_app(n)
        if self.worker:
            self.procs["worker"] = Proc("worker",
                                        hall_command(self.services["worker"]["command"]),
                                        self.hall_env("worker"),
                                        self.workdir / "worker.log").start()
        if self.proxy:
            self.start_proxy()
        return self

    def start_app(self, n: int) -> Proc:
        port = free_port()
        command = hall_command(self.services["app"]["command"])
        command = replace_arg(replace_arg(command, "--host", "127.0.0.1"), "--port", str(port))
        if self.unix_sockets:
            command += ["--uds", str(self.socket_path(n))]
        proc = Proc(f"app{n}", command, self.hall_env("app"), self.workdir / f"app{n}.log",
                    port).start()
        self.procs[proc.name] = proc
        wait_until(lambda: httpx.get(f"{proc.url}/readyz", timeout=1).status_code == 200, 30,
                   f"{proc.name} ready ({proc.log.read_text()[-1500:]})")
        return proc

    def start_proxy(self) -> None:
        command = list(self.services["proxy"]["command"])
        assert command[0] == "nginx"
        command[0] = need("nginx")
        upstreams = ([self.socket_path(int(p.name.removeprefix("app"))) for p in self.app_procs]
                     if self.unix_sockets else [p.port for p in self.app_procs])
        conf = render_nginx(self.proxy_port, upstreams, self.workdir)
        command = replace_arg(command, "-c", str(conf))
        command = [*command, "-p", str(self.workdir), "-e", "stderr"]
        self.procs["proxy"] = Proc("proxy", command, dict(os.environ),
                                   self.workdir / "nginx.out", self.proxy_port).start()
        wait_until(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200, 10,
                   f"nginx ({(self.workdir / 'nginx.out').read_text()[-800:]})")

    def socket_path(self, n: int) -> Path:
        return self.workdir / f"app{n}.sock"

    @property
    def app_procs(self) -> list[Proc]:
        return [p for name, p in sorted(self.procs.items()) if name.startswith("app")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.proxy_port}"

    def credentials(self) -> tuple[dict[str, str], str]:
        """({user: set-up link}, kiosk device token) from the first start's file."""
        text = (self.data / "initial-credentials.txt").read_text(encoding="utf-8")
        links = dict(re.findall(r"(\S+)  set-up link: (\S+)", text))
        kiosk = re.search(r"/h/district/kiosk\?device=(\S+)", text)
        assert links and kiosk, text[:500]
        assert "password:" not in text, text[:500]  # no password is ever written
        return links, kiosk.group(1)

    def login(self, username: str, links: dict[str, str],
              url: str | None = None) -> dict[str, str]:
        """Sign in as the account's person: the first time through its set-up link (as
        its page does: the fragment's token in a JSON body, choosing a password), then
        with that password; the session's header."""
        url = url or self.url
        if username not in self.passwords:
            token = links[username].split("#setup=", 1)[1]
            password = f"chosen {secrets.token_hex(8)}"
            r = httpx.post(f"{url}/api/setup", json={"token": token, "password": password})
            assert r.status_code == 200, r.text
            self.passwords[username] = password
        else:
            r = httpx.post(f"{url}/api/login", json={"username": username,
                                                     "password": self.passwords[username]})
            assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def stop(self) -> None:
        for name in ["proxy", *[p.name for p in self.app_procs], "worker", "redis"]:
            proc = self.procs.get(name)
            if proc is not None:
                if name == "proxy":
                    proc.signal(signal.SIGQUIT)
                proc.stop()


# One kiosk's pause between issues: two kiosks give at most ~25 tickets a second, so a
# queue's daily numbers (999) last the longest failover test (~45 s) with room to spare;
# unpaced, a fast machine sold a queue out mid-test (409 sold_out counted as a failure).
ISSUE_PAUSE = 0.08


class IssueLoad:
    """Two kiosks issuing in one hall, each every ``ISSUE_PAUSE`` s after its answer; every
    answer recorded."""

    def __init__(self, url: str, hall: str, matter: str, kiosk: dict[str, str]) -> None:
        self.url, self.hall, self.matter, self.kiosk = url, hall, matter, kiosk
        self.halt = threading.Event()
        self.acknowledged: list[tuple[float, str]] = []
        self.failures: list[tuple[float, str]] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(timeout=20) as client:
            while not self.halt.is_set():
                try:
                    r = client.post(f"{self.url}/api/halls/{self.hall}/tickets",
                                    json={"matter": self.matter}, headers=self.kiosk)
                except httpx.HTTPError as exc:
                    self.failures.append((time.monotonic(), repr(exc)))
                    continue
                if r.status_code == 201:
                    self.acknowledged.append((time.monotonic(), r.json()["number"]))
                else:
                    self.failures.append((time.monotonic(), f"{r.status_code} {r.text[:120]}"))
                    time.sleep(0.05)
                time.sleep(ISSUE_PAUSE)
