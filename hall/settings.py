"""Settings: the one place that reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(Exception):
    pass


def _int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{key} must be a whole number, got {raw!r}") from None


def _hosts(env: dict[str, str], key: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` → pairs; the error names the key and the bad entry."""
    pairs = []
    for item in (env.get(key) or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(f"{key} must be host:port[,host:port…], got {item!r}")
        pairs.append((host, int(port)))
    return tuple(pairs)


def _choice(env: dict[str, str], key: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(key) or default
    if raw not in allowed:
        raise SettingsError(f"{key} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _cluster_nodes(env: dict[str, str]) -> tuple[tuple[str, int], ...]:
    """``REDIS_CLUSTER_NODES``; on a cluster RQ's keys need one hash tag (``RQ_KEY_PREFIX``,
    read by rq itself when it is imported), so every RQ key lives in one slot."""
    nodes = _hosts(env, "REDIS_CLUSTER_NODES")
    if nodes and env.get("REDIS_SENTINELS"):
        raise SettingsError("set REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both")
    prefix = env.get("RQ_KEY_PREFIX", "")
    if nodes and not ("{" in prefix and prefix.index("{") + 1 < prefix.find("}")):
        raise SettingsError("REDIS_CLUSTER_NODES needs RQ_KEY_PREFIX with a hash tag "
                            f"(e.g. RQ_KEY_PREFIX={{rq}}), got {prefix!r}")
    return nodes


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Every field has an environment variable named in DEPLOY docs."""

    redis_url: str | None = None
    data_dir: Path = Path("var")
    hall_files: tuple[Path, ...] = ()
    max_body_bytes: int = 64 * 1024
    session_hours: int = 12
    session_idle_minutes: int = 30
    require_second_factor: bool = True
    start_worker: bool = True
    secure_cookies: bool = False
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "hall"
    redis_password: str | None = None
    redis_sentinel_password: str | None = None
    redis_cluster_nodes: tuple[tuple[str, int], ...] = ()  # seeds of a Redis Cluster
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 500
    log_format: str = "text"
    # log event-loop stalls from this many ms with the stack that held the loop (0: log
    # stalls from 50 ms, without stacks; hall.metrics.LoopMonitor)
    stall_trace_ms: int = 0
    identity_secret: str | None = None  # HMAC key of ID numbers (hall/identity.py)
    always_open: bool = False  # demos and tests: walk-ins are not refused outside hours
    notify_url: str | None = None  # the hall's SMS / WeChat gateway webhook (ticketing/notify.py)
    notify_secret: str | None = None  # its signing key
    public_url: str | None = None  # the address staff open the hall at (set-up links)
    # audit-trail days older than this move from Redis to the data folder (0: they stay)
    archive_after_days: int = 7
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def external_redis(self) -> bool:
        """A Redis of the deployment is configured (URL, Sentinel or Cluster): RQ workers
        exist; else ``hall serve`` runs the embedded one."""
        return bool(self.redis_url or self.redis_sentinels or self.redis_cluster_nodes)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        files = tuple(Path(p) for p in env.get("HALL_FILES", "").split(os.pathsep) if p)
        values: dict[str, object] = {
            "redis_url": env.get("REDIS_URL") or None,
            "data_dir": Path(env.get("HALL_DATA", "var")),
            "hall_files": files,
            "max_body_bytes": _int(env, "HALL_MAX_BODY_BYTES", 64 * 1024),
            "session_hours": _int(env, "HALL_SESSION_HOURS", 12),
            "session_idle_minutes": _int(env, "HALL_SESSION_IDLE_MINUTES", 30),
            "require_second_factor": env.get("HALL_REQUIRE_2FA", "1") not in ("0", "false",
                                                                              "no"),
            "start_worker": env.get("HALL_START_WORKER", "1") not in ("0", "false", "no"),
            "secure_cookies": env.get("HALL_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            "redis_sentinels": _hosts(env, "REDIS_SENTINELS"),
            "redis_sentinel_master": env.get("REDIS_SENTINEL_MASTER") or "hall",
            "redis_password": env.get("REDIS_PASSWORD") or None,
            "redis_sentinel_password": env.get("REDIS_SENTINEL_PASSWORD") or None,
            "redis_cluster_nodes": _cluster_nodes(env),
            "redis_wait_replicas": _int(env, "REDIS_WAIT_REPLICAS", 0),
            "redis_wait_timeout_ms": _int(env, "REDIS_WAIT_TIMEOUT_MS", 500),
            "log_format": _choice(env, "HALL_LOG_FORMAT", ("text", "json"), "text"),
            "stall_trace_ms": _int(env, "HALL_STALL_TRACE_MS", 0),
            "identity_secret": env.get("HALL_IDENTITY_SECRET") or None,
            "always_open": env.get("HALL_ALWAYS_OPEN", "0") in ("1", "true", "yes"),
            "notify_url": env.get("HALL_NOTIFY_URL") or None,
            "notify_secret": env.get("HALL_NOTIFY_SECRET") or None,
            "public_url": (env.get("HALL_PUBLIC_URL") or "").rstrip("/") or None,
            "archive_after_days": _int(env, "HALL_ARCHIVE_AFTER_DAYS", 7),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
