"""A hall's ``[tide]`` table: which policy, which mode, and its limits, validated by field
(pydantic, through ``hall.config.check``: one ``ConfigError`` naming every wrong field).

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
    close_utilization = 0.5      # predictive: close only if each queue's other windows would be
                                 # this busy at most (to the end of the day for a final close)
    wait_quantile = 0.9          # predictive: keep this quantile of a newcomer's wait under target
                                 # (0: the mean); 0.5 / 0.9 chosen on the tuning day shapes
    lend = true                  # lend lendable windows to an overloaded queue
    hourly_profile = [...]       # predictive: relative arrivals per hour 0..23 (optional)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool, StrictInt
from pydantic import StrictFloat as Number

from hall.config import ConfigError, check
from hall.config.schema import Table


class PolicyName(str, Enum):
    OFF = "off"
    THRESHOLD = "threshold"
    PREDICTIVE = "predictive"


class Mode(str, Enum):
    AUTO = "auto"
    ADVISE = "advise"
    OFF = "off"


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
    close_utilization: float = 0.5
    smoothing_minutes: float = 15.0
    wait_quantile: float = 0.9  # predictive: the wait quantile kept under target (0: mean)
    lend: bool = True
    hourly_profile: tuple[float, ...] = ()

    def with_(self, **changes: Any) -> TideSettings:
        return replace(self, **changes)


_T = TideSettings()
NonNegative = Annotated[Number, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]
Count = Annotated[StrictInt, Field(ge=0)]


def _day_profile(values: list[float]) -> list[float]:
    if len(values) != 24 or any(v < 0 for v in values):
        raise ValueError("must list 24 non-negative numbers (hours 0-23)")
    return values


class TideTable(Table):
    """The ``[tide]`` table as written (defaults: ``TideSettings``)."""

    policy: PolicyName = _T.policy
    mode: Mode = _T.mode
    interval_seconds: Positive = _T.interval_seconds
    target_wait_minutes: Positive = _T.target_wait_minutes
    open_waiting: Count = _T.open_waiting
    open_wait_minutes: NonNegative = _T.open_wait_minutes
    close_waiting: Count = _T.close_waiting
    close_wait_minutes: NonNegative = _T.close_wait_minutes
    min_open_minutes: NonNegative = _T.min_open_minutes
    min_closed_minutes: NonNegative = _T.min_closed_minutes
    max_toggles_per_day: Count = _T.max_toggles_per_day
    lag_minutes: NonNegative = _T.lag_minutes
    close_utilization: NonNegative = _T.close_utilization
    smoothing_minutes: NonNegative = _T.smoothing_minutes
    wait_quantile: Annotated[Number, Field(ge=0, lt=1)] = _T.wait_quantile
    lend: StrictBool = _T.lend
    hourly_profile: Annotated[list[NonNegative], AfterValidator(_day_profile)] | None = None


def parse_tide(raw: Mapping[str, Any]) -> TideSettings:
    """Validate a hall's raw ``[tide]`` mapping; raise ConfigError naming every bad field."""
    problems: list[str] = []
    table = check(TideTable, raw, ("tide",), problems)
    # the limits are compared even when another field is wrong, so one pass names all
    limits = table or check(TideTable, {k: v for k, v in raw.items() if k in _LIMITS},
                            ("tide",), [])
    if limits is not None:
        if limits.close_waiting >= limits.open_waiting:
            problems.append("tide.close_waiting: must be below open_waiting (hysteresis)")
        if limits.close_wait_minutes >= limits.open_wait_minutes:
            problems.append("tide.close_wait_minutes: must be below open_wait_minutes "
                            "(hysteresis)")
    if problems or table is None:
        raise ConfigError("", problems)
    values = table.model_dump()
    values["hourly_profile"] = tuple(table.hourly_profile or ())
    return TideSettings(**values)


_LIMITS = ("open_waiting", "close_waiting", "open_wait_minutes", "close_wait_minutes")
