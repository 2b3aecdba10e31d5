"""The declared answers of the dashboard and city APIs (``response=`` of ``hall.http.api``).

Strict models (any other field breaks the schema); fields that show a record's field are
typed from that record (``record_model``: queue, window, alert, rating, case, hall), the
figures from the reports' own models (``ticketing.report_views``).
"""

from __future__ import annotations

from typing import Any, get_type_hints

from pydantic import BaseModel, create_model

from displays.dashboard_data import CHANNEL_FIGURES, WINDOW_FIGURES
from hall.config import HallConfig
from hall.config.types import Queue, Rules
from hall.http import STRICT, record_model
from ticketing.alerts import Alert
from ticketing.model import TicketStatus, WindowState
from ticketing.ratings import Case, CaseStatus, Rating
from ticketing.report_views import Figures, RatesView

_CASE = get_type_hints(Case)
_NAME = (str | None, ...)

# ---- GET /api/halls/{hall}/dashboard ---------------------------------------------------

DashboardQueue = record_model("DashboardQueue", Queue, ("letter", "name_zh", "name_en"),
                              waiting=(int, ...), longest_wait_minutes=(float, ...),
                              predicted_wait_minutes=(float, ...))
DashboardWindow = record_model(
    "DashboardWindow", WindowState, ("number", "status", "clerk"),
    name_zh=(str, ...), name_en=(str, ...), kind=(str, ...),  # "" for a window not configured
    clerk_name=_NAME, clerk_staff_number=_NAME, queues=(list[str], ...),
    current_number=(str | None, ...), current_status=(TicketStatus | None, ...),
    current_since=(float | None, ...))
AlertView = record_model("AlertView", Alert, tuple(get_type_hints(Alert)))
DashboardCase = record_model(
    "DashboardCase", Rating, ("ticket", "number", "level", "comment", "window", "first_window"),
    clerk_name=_NAME, first_clerk_name=_NAME, status=(CaseStatus, ...),
    **{f: (_CASE[f], ...) for f in ("deadline", "reasonable", "rectification", "reply")})


class CasesPanel(BaseModel):
    """Open and overdue cases (the first 50 by deadline) and how many are closed."""

    model_config = STRICT
    open: int
    overdue: int
    closed: int
    items: list[DashboardCase]  # type: ignore[valid-type]


DashboardLive = record_model(
    "DashboardLive", Rules, ("wait_target_minutes",), hall=(str, ...), now=(float, ...),
    queues=(list[DashboardQueue], ...), windows=(list[DashboardWindow], ...),  # type: ignore[valid-type]
    alerts=(list[AlertView], ...), cases=(CasesPanel, ...))  # type: ignore[valid-type]

# ---- GET /api/halls/{hall}/dashboard/today ---------------------------------------------


def _figures(name: str, fields: tuple[str, ...]) -> type[BaseModel]:
    """A model of some of a group's figures (typed as ``Figures`` types them)."""
    types: dict[str, Any] = {f: (Figures.model_fields[f].annotation, ...) for f in fields}
    model: type[BaseModel] = create_model(name, __config__=STRICT, **types)
    return model


WindowFigures = _figures("WindowFigures", WINDOW_FIGURES)
ChannelFigures = _figures("ChannelFigures", CHANNEL_FIGURES)


class Quarters(BaseModel):
    """Arrivals and services per quarter hour of the day (96)."""

    model_config = STRICT
    arrivals: list[int]
    served: list[int]


class WaitHistogram(BaseModel):
    model_config = STRICT
    bucket_minutes: int
    counts: list[int]


class DashboardToday(BaseModel):
    model_config = STRICT
    hall: str
    day: str
    now: float
    total: Figures  # type: ignore[valid-type]
    windows: dict[str, WindowFigures]  # type: ignore[valid-type]
    quarters: Quarters
    waiting: list[int]
    wait_histogram: WaitHistogram
    rates: RatesView  # type: ignore[valid-type]
    channels: dict[str, ChannelFigures]  # type: ignore[valid-type]


# ---- GET /api/city ---------------------------------------------------------------------

_COUNT: Any = (int, ...)
CityHall = record_model("CityHall", HallConfig, ("id", "name_zh", "name_en", "level"), **{
    f: _COUNT for f in ("waiting", "windows", "open_windows", "busy_windows", "issued_today",
                        "open_cases", "overdue_cases")})


class RegionTotals(BaseModel):
    model_config = STRICT
    halls: int
    waiting: int
    issued_today: int


class CityPage(BaseModel):
    """One page of the halls the caller manages, and totals per city over all of them."""

    model_config = STRICT
    total: int
    offset: int
    next_offset: int | None
    halls: list[CityHall]  # type: ignore[valid-type]
    regions: dict[str, RegionTotals]
