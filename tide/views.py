"""The declared answers of the tide API (``response=`` of ``hall.http.api``).

Each model is derived from the record it shows (``record_model``: a decision, a hold, a
window, a saved plan's outcome, the settings' limits), so a field renamed there changes
the schema too. Strict (any other field breaks the schema), except the recent decisions:
those are the tide events' own data, whose fields differ by kind (decision, override,
mode, plan), so that model names the fields every entry has and allows the rest.
"""

from __future__ import annotations

from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from hall.config.types import WindowKind
from hall.http import STRICT, record_model
from ticketing.model import WindowState, WindowStatus
from tide.plan import Assignment, Outcome, Plan, PlanSlot, Reach
from tide.policy import Decision, Hold
from tide.report import EstimateAccuracy
from tide.settings import Mode, TideSettings

_DECISION = get_type_hints(Decision)
TideDecision = record_model("TideDecision", Decision, tuple(_DECISION))
TideHold = record_model("TideHold", Hold, tuple(get_type_hints(Hold)))
WindowRecord = record_model("WindowRecord", WindowState, tuple(get_type_hints(WindowState)))
EstimatesToday = record_model("EstimatesToday", EstimateAccuracy,
                              tuple(get_type_hints(EstimateAccuracy)))

# ``_flat`` (tide.service): an entry with its decision's fields also at the top level
FLAT: dict[str, Any] = {**{f: (t, ...) for f, t in _DECISION.items()}, "reason": (str, ...)}


class TideQueue(BaseModel):
    """A queue's live load (``QueueLoad``, in minutes and rounded)."""

    model_config = STRICT
    queue: str
    waiting: int
    longest_wait_minutes: float
    arrivals_per_hour: float
    service_minutes: float
    servers: float
    predicted_wait_minutes: float


class TideWindow(BaseModel):
    """A tide or lendable window as the controller sees it."""

    model_config = STRICT
    number: int
    kind: WindowKind
    lendable: bool
    status: WindowStatus
    clerk: str | None
    queues: list[str]
    toggles_today: int
    manual_toggles_today: int
    override: bool


# a proposal waiting for a manager, and a manager's override (as kept, then flattened)
Pending = create_model("TidePending", __config__=STRICT, id=(str, ...), at=(float, ...),
                       decision=(TideDecision, ...), **FLAT)
OverrideEntry = create_model("TideOverride", __config__=STRICT, by=(str, ...), at=(float, ...),
                             decision=(TideDecision, ...), **FLAT)


class RecentTideEvent(BaseModel):
    """A recent tide event (newest first): its type and time, then that kind's own data
    (open-ended: a decision, an override set or released, a mode change, a saved plan)."""

    model_config = ConfigDict(extra="allow")
    type: str
    at: float


TideState = record_model(
    "TideState", TideSettings, ("policy", "target_wait_minutes", "max_toggles_per_day"),
    hall=(str, ...), mode=(Mode, ...), open_now=(bool, ...), leader=(str | None, ...),
    queues=(list[TideQueue], ...), windows=(list[TideWindow], ...),
    held=(list[TideHold], ...),  # type: ignore[valid-type]
    pending=(list[Pending], ...),  # type: ignore[valid-type]
    overrides=(list[OverrideEntry], ...),  # type: ignore[valid-type]
    recent=(list[RecentTideEvent], ...),
    estimates_today=(EstimatesToday, ...), controller=(str | None, ...))


class ModeSet(BaseModel):
    model_config = STRICT
    mode: Mode


class Confirmed(BaseModel):
    model_config = STRICT
    decision: TideDecision  # type: ignore[valid-type]
    status: Literal["confirmed", "dismissed"]


class Overridden(BaseModel):
    """The window as the override left it, and the decision applied."""

    model_config = STRICT
    window: WindowRecord  # type: ignore[valid-type]
    override: TideDecision  # type: ignore[valid-type]


class Released(BaseModel):
    model_config = STRICT
    released: int


PlanOutcome = record_model("PlanOutcome", Outcome, tuple(get_type_hints(Outcome)))
# defaults: a plan saved before assignments, reach and notes existed still answers
PlanSlotView = record_model("PlanSlotView", PlanSlot, ("windows", "clerks"), start=(str, ...),
                            expected_tickets=(float, ...), kinds=(dict[str, int], {}),
                            p90_min=(float | None, None), today_p90_min=(float | None, None))
PlanAssignment = record_model("PlanAssignment", Assignment,
                              tuple(get_type_hints(Assignment)))


class OverQueue(BaseModel):
    model_config = STRICT
    queue: str
    share: float


class PlanNote(BaseModel):
    model_config = STRICT
    zh: str
    en: str


PlanReach = record_model("PlanReach", Reach, ("reachable", "hit_rate", "p90_tenth_min"),
                         over_queues=(list[OverQueue], ...))
# ``Plan.to_dict`` as ``hall plan --save`` keeps it: the day, the forecast's source, when
# and by whom it was saved
SavedPlan = record_model(
    "SavedPlan", Plan, ("hall", "target_minutes", "fixed_windows", "feasible", "fallback"),
    slots=(list[PlanSlotView], ...), planned=(PlanOutcome, ...),  # type: ignore[valid-type]
    today=(PlanOutcome, ...), day=(str, ...), forecast=(str, ...), saved_at=(float, ...),
    by=(str, ...), assignments=(list[PlanAssignment], []),  # type: ignore[valid-type]
    reach=(PlanReach | None, None), notes=(list[PlanNote], []))


class PlanAnswer(BaseModel):
    model_config = STRICT
    plan: SavedPlan | None  # type: ignore[valid-type]
