"""The declared answer of ``GET /api/hub`` (``response=`` of ``hall.http.api``).

Public (anyone may read it), so strict: a field added to ``Hub.status`` must be added here
too, or the fuzzing test's schema check fails. Each watched hall's last read id is typed
by the hub's own reader record.
"""

from __future__ import annotations

from pydantic import BaseModel

from displays.hub import HallReader
from hall.http import STRICT, record_model

HubHall = record_model("HubHall", HallReader, ("last_id",), clients=(int, ...))


class HubStatus(BaseModel):
    """This process's event hub: sockets, lag, slow clients dropped, frames, readers."""

    model_config = STRICT
    clients: int
    lag_seconds: float
    dropped_slow: int
    delivered: int
    direct_clients: int
    frames_encoded: int
    frames_sent: int
    readers: int
    halls: dict[str, HubHall]  # type: ignore[valid-type]
