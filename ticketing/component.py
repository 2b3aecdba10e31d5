"""The ticketing package as an app component."""

from __future__ import annotations

from hall.component import Component
from ticketing.rating_routes import routes as rating_routes
from ticketing.routes import routes

component = Component("ticketing", routes=[*routes, *rating_routes])
