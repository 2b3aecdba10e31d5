"""Reading hall files from disk: one file, many, the bundled ones, or those configured.

A file with a ``[province]`` table is a province file: it stands for many halls generated
from templates (``hall.config.province``); each template is read and checked once.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from hall.config.checking import ConfigError
from hall.config.parse import parse_hall
from hall.config.province import generate, is_province
from hall.config.types import HallConfig
from hall.settings import Settings

BUNDLED_HALLS_DIR = Path(__file__).resolve().parent.parent / "halls"


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), ["file: not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"file: not valid TOML ({exc})"]) from None


def load_hall(path: str | Path) -> HallConfig:
    """Read and validate a hall file; raise ConfigError listing every problem."""
    path = Path(path)
    raw = _read(path)
    if is_province(raw):
        raise ConfigError(str(path), ["file: a province file stands for many halls; "
                                      "load it with load_halls (HALL_FILES)"])
    return parse_hall(raw, source=str(path))


def is_province_file(path: str | Path) -> bool:
    """The file is a province file (many halls from templates), not one hall's file."""
    return is_province(_read(Path(path)))


def load_file(path: Path) -> dict[str, HallConfig]:
    """The halls of one file: a hall file gives one, a province file many."""
    raw = _read(path)
    if is_province(raw):
        template = functools.lru_cache(maxsize=None)(load_hall)
        return generate(raw, path, template)
    cfg = parse_hall(raw, source=str(path))
    return {cfg.id: cfg}


def load_halls(paths: list[Path]) -> dict[str, HallConfig]:
    """Load many hall files (a file or a folder of *.toml each); hall ids must be unique."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    halls: dict[str, HallConfig] = {}
    for f in files:
        for hall_id, cfg in load_file(f).items():
            if hall_id in halls:
                raise ConfigError(str(f), [f"hall.id: '{hall_id}' is already defined by "
                                           "another file"])
            halls[hall_id] = cfg
    return halls


def bundled_hall_files() -> list[Path]:
    return sorted(BUNDLED_HALLS_DIR.glob("*.toml"))


def load_configured_halls(settings: Settings) -> dict[str, HallConfig]:
    """The halls of ``HALL_FILES`` (files or folders), or the bundled ones when unset."""
    files = list(settings.hall_files) or bundled_hall_files()
    return load_halls([Path(f) for f in files])
