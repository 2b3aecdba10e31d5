"""Hall definition files: parse a TOML hall into typed config, and explain every mistake by field.

A hall file has the tables ``[hall]`` (with ``[hall.hours]``, ``[hall.calendar]``),
``[rules]``, ``[[matters]]``, ``[[queues]]``, ``[[windows]]``, ``[[staff]]`` and optional
``[voice]`` / ``[tide]`` / ``[appointments]`` tables that their own packages check (with
the same ``check`` and ``ConfigError``). See ``hall/halls/district.toml``.

    types.py     the typed hall (HallConfig and its parts), pure
    schema.py    the file's tables as pydantic models (unknown fields refused)
    checking.py  ConfigError, ``check``, pydantic errors in plain words by field path
    parse.py     raw mapping → HallConfig, with the checks across tables
    files.py     reading files: load_hall, load_halls, bundled and configured halls
"""

from hall.config.checking import ConfigError, check, describe, where
from hall.config.files import (
    BUNDLED_HALLS_DIR,
    bundled_hall_files,
    load_configured_halls,
    load_hall,
    load_halls,
)
from hall.config.parse import parse_hall
from hall.config.types import (
    DOMAINS,
    PRIORITY_GROUPS,
    SPECIALTIES,
    HallConfig,
    HallLevel,
    Matter,
    OpeningHours,
    Queue,
    Rules,
    Staff,
    Window,
    WindowKind,
)

__all__ = [
    "BUNDLED_HALLS_DIR", "DOMAINS", "PRIORITY_GROUPS", "SPECIALTIES", "ConfigError",
    "HallConfig", "HallLevel", "Matter", "OpeningHours", "Queue", "Rules", "Staff", "Window",
    "WindowKind", "bundled_hall_files", "check", "describe", "load_configured_halls",
    "load_hall", "load_halls", "parse_hall", "where",
]
