"""A hall's ``[tide]`` table: which policy, which mode, and its limits, validated by field.

    [tide]
    policy = "predictive"        # off | threshold | predictive
    mode = "advise"              # auto | advise | off (the controller's start mode)
    interval_seconds = 30        # how often the controller runs the policy (live and simulated)
    target_wait_minutes = 15     # predictive: staff so a newcomer waits at most this
    open_waiting = 12            # threshold: open when this many wait for a tide queue …
    open_wait_minutes = 20       # … or a newcomer's predicted wait reaches this
    close_waiting = 3            # close when at most this many wait …
    close_wait_minutes = 5       # … and the predicted wait is under this
    min_open_minutes = 30        # a tide window stays open at least this long
    min_closed_minutes = 20      # and closed at least this long before re-opening
    max_toggles_per_day = 4      # opens + closes of one window per day
    lag_minutes = 20             # predictive: look this far ahead
    close_utilization = 0.7      # predictive: close only if the others would be this busy at most
    lend = true                  # lend lendable windows to an overloaded queue
    hourly_profile = [...]       # predictive: relative arrivals per hour 0..23 (optional)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any


class PolicyName(str, Enum):
    OFF = "off"
    THRESHOLD = "threshold"
    PREDICTIVE = "predictive"


class Mode(str, Enum):
    AUTO = "auto"
    ADVISE = "advise"
    OFF = "off"


class TideConfigError(ValueError):
    """A ``[tide]`` table with mistakes; the message names each field."""


@dataclass(frozen=True)
class TideSettings:
    policy: PolicyName = PolicyName.PREDICTIVE
    mode: Mode = Mode.ADVISE
    interval_seconds: float = 30.0
    target_wait_minutes: float = 15.0
    open_waiting: int = 12
    open_wait_minutes: float = 20.0
    close_waiting: int = 3
    close_wait_minutes: float = 5.0
    min_open_minutes: float = 30.0
    min_closed_minutes: float = 20.0
    max_toggles_per_day: int = 4
    lag_minutes: float = 20.0
    close_utilization: float = 0.7
    smoothing_minutes: float = 15.0
    lend: bool = True
    hourly_profile: tuple[float, ...] = ()

    def with_(self, **changes: Any) -> TideSettings:
        return replace(self, **changes)


_NUMBERS = {f.name for f in fields(TideSettings)} - {"policy", "mode", "lend", "hourly_profile"}


def parse_tide(raw: Mapping[str, Any]) -> TideSettings:
    """Validate a hall's raw ``[tide]`` mapping; raise TideConfigError naming every bad field."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    defaults = TideSettings()
    for key, value in raw.items():
        where = f"tide.{key}"
        if key == "policy":
            try:
                values[key] = PolicyName(value)
            except ValueError:
                problems.append(f"{where}: must be off, threshold or predictive; got {value!r}")
        elif key == "mode":
            try:
                values[key] = Mode(value)
            except ValueError:
                problems.append(f"{where}: must be auto, advise or off; got {value!r}")
        elif key == "lend":
            if not isinstance(value, bool):
                problems.append(f"{where}: must be true or false")
            else:
                values[key] = value
        elif key == "hourly_profile":
            ok = isinstance(value, list) and len(value) == 24 and all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
            if not ok:
                problems.append(f"{where}: must list 24 non-negative numbers (hours 0-23)")
            else:
                values[key] = tuple(float(v) for v in value)
        elif key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems.append(f"{where}: must be a non-negative number, got {value!r}")
            else:
                kind = type(getattr(defaults, key))
                values[key] = int(value) if kind is int else float(value)
        else:
            problems.append(f"{where}: unknown setting")
    if values.get("interval_seconds", 1.0) <= 0 or values.get("target_wait_minutes", 1.0) <= 0:
        problems.append("tide: interval_seconds and target_wait_minutes must be above 0")
    merged = replace(defaults, **values)
    if merged.close_waiting >= merged.open_waiting:
        problems.append("tide.close_waiting: must be below open_waiting (hysteresis)")
    if merged.close_wait_minutes >= merged.open_wait_minutes:
        problems.append("tide.close_wait_minutes: must be below open_wait_minutes (hysteresis)")
    if problems:
        raise TideConfigError("; ".join(problems))
    return merged
