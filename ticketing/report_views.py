"""The declared answers of the reports API (``response=`` of ``hall.http.api``).

Strict models derived from the definitions the figures are built from: a group's figures
from ``reports.COUNTS`` and ``reports.LEVELS`` (``reports._summary``), the report's
dimensions from ``reports.DIMENSIONS``, the rates from ``ratings.Rates``.
"""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel, Field, create_model

from hall.http import STRICT, record_model
from ticketing.ratings import Rates
from ticketing.reports import COUNTS, DIMENSIONS, LEVELS

_RATIO = (float | None, ...)


def _strict(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    model: type[BaseModel] = create_model(name, __config__=STRICT, **fields)
    return model


RatingCounts = _strict("RatingCounts", {level: (int, ...) for level in LEVELS})
# ``reports._summary``: a group's counts, waits and service times (seconds), ratings
Figures = _strict("Figures", {
    **{c: (int, ...) for c in COUNTS}, "wait_mean_s": _RATIO, "wait_p90_s": _RATIO,
    "service_mean_s": _RATIO, "service_p90_s": _RATIO, "ratings": (RatingCounts, ...),
    "rated": (int, ...), "rating_rate": _RATIO})
FiguresBy = _strict("FiguresBy", {d: (dict[str, Figures], ...)  # type: ignore[valid-type]
                                  for d in DIMENSIONS})
RatesView = record_model("RatesView", Rates, tuple(get_type_hints(Rates)),
                         rating_rate=_RATIO, rectification_rate=_RATIO, reply_rate=_RATIO)
# ``report_store.names``: the display name of each key, per dimension that has names
Names = _strict("Names", {d: (dict[str, str], ...) for d in DIMENSIONS if d != "channel"})

class Hours(BaseModel):
    """Arrivals and services per hour of the day (0..23), summed over the range."""

    model_config = STRICT
    arrivals: list[int]
    served: list[int]


class PeakHour(BaseModel):
    model_config = STRICT
    hour: int
    arrivals: int


class DayTotal(BaseModel):
    model_config = STRICT
    day: str
    issued: int
    served: int


class _Range(BaseModel):
    model_config = STRICT
    hall: str
    from_: str = Field(alias="from")
    to: str


class Report(_Range):
    """A hall's figures over a date range (managers and admins)."""

    total: Figures  # type: ignore[valid-type]
    by: FiguresBy  # type: ignore[valid-type]
    hours: Hours
    peak_hours: list[PeakHour]
    daily: list[DayTotal]
    rates: RatesView  # type: ignore[valid-type]
    names: Names  # type: ignore[valid-type]


class OwnFigures(_Range):
    """What a clerk sees of a report: their own line (null: nothing in the range)."""

    clerk: str | None
    figures: Figures | None  # type: ignore[valid-type]


class RollupQueued(BaseModel):
    """The roll-up job queued (202): its id, the hall and the day (YYYYMMDD)."""

    model_config = STRICT
    job: str
    hall: str
    day: str


ReportAnswer: Any = Report | OwnFigures
