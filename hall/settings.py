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


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Every field has an environment variable named in DEPLOY docs."""

    redis_url: str | None = None
    data_dir: Path = Path("var")
    hall_files: tuple[Path, ...] = ()
    max_body_bytes: int = 64 * 1024
    session_hours: int = 12
    start_worker: bool = True
    secure_cookies: bool = False
    extra: dict[str, str] = field(default_factory=dict)

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
            "start_worker": env.get("HALL_START_WORKER", "1") not in ("0", "false", "no"),
            "secure_cookies": env.get("HALL_SECURE_COOKIES", "0") in ("1", "true", "yes"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
