"""The ticketing package as an app component."""

from __future__ import annotations

from hall.component import Component
from ticketing import rollup
from ticketing.rating_routes import routes as rating_routes
from ticketing.report_routes import routes as report_routes
from ticketing.routes import routes

component = Component("ticketing", routes=[*routes, *rating_routes, *report_routes],
                      start=rollup.start, stop=rollup.stop)
