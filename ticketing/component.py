"""The ticketing package as an app component."""

from __future__ import annotations

from hall.component import Component
from ticketing.routes import routes

component = Component("ticketing", routes=list(routes))
