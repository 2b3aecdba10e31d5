"""The reports JSON/CSV API: a hall's figures over a date range; clerks see only their own."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hall.auth import Role, require
from hall.calendar import local_day
from hall.errors import Invalid
from hall.http import F, api, caller, read_body
from hall.services import services
from hall.text import parse_day
from ticketing import reports
from ticketing.report_store import ReportStore
from ticketing.report_views import ReportAnswer, RollupQueued
from ticketing.rollup import enqueue_rollup
from ticketing.store import STORE

STAFF = (Role.ADMIN, Role.MANAGER, Role.CLERK)



def own_figures(report: dict[str, Any], staff_id: str | None) -> dict[str, Any]:
    """What a clerk may see of a report: their own line, nothing of colleagues or the hall."""
    mine = report["by"]["clerk"].get(staff_id or "")
    return {"hall": report["hall"], "from": report["from"], "to": report["to"],
            "clerk": staff_id, "figures": mine}


@api("GET", "/api/halls/{hall}/reports",
     "Figures for a date range (?from=&to=, YYYY-MM-DD; ?format=csv) by matter, queue, "
     "window, clerk and channel (booked / walk-in)",
     "manager, admin; a clerk gets only their own figures", tag="reports",
     query=(F("from", str, max_length=10, description="first day, YYYY-MM-DD"),
            F("to", str, max_length=10, description="last day, YYYY-MM-DD"),
            F("format", str, choices=("json", "csv"))), media=("text/csv",),
     response=ReportAnswer)
async def get_report(request: Request) -> Response:
    hall_id: str = request.path_params["hall"]
    cfg = services(request).get(STORE).hall(hall_id)
    who = require(await caller(request), hall_id, *STAFF)
    now = services(request).get(STORE).clock()
    today = datetime.strptime(local_day(now, cfg.tz), "%Y%m%d").date()
    q = request.query_params
    first = parse_day(q["from"], "from") if "from" in q else today
    last = parse_day(q["to"], "to") if "to" in q else first
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv")
    report = await ReportStore(services(request).redis, services(request).get(STORE)).report(
        hall_id, first, last)
    if who.role is Role.CLERK:
        if fmt == "csv":
            raise Invalid("clerks get their own figures as JSON only", code="csv_not_allowed")
        return JSONResponse(own_figures(report, who.staff_id))
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(reports.csv_rows(report, report["names"]))
        name = f"report-{hall_id}-{first.isoformat()}-{last.isoformat()}.csv"
        return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    return JSONResponse(report)


ROLLUP_FIELDS = (F("day", str, max_length=10, description="the day to roll up, YYYY-MM-DD"),)


@api("POST", "/api/halls/{hall}/reports/rollup",
     "Queue the roll-up of a day into its daily aggregate (an RQ job)", "manager, admin",
     ROLLUP_FIELDS, tag="reports", ok=202, response=RollupQueued)
async def post_rollup(request: Request) -> Response:
    hall_id: str = request.path_params["hall"]
    services(request).get(STORE).hall(hall_id)
    require(await caller(request), hall_id, Role.ADMIN, Role.MANAGER)
    body = await read_body(request, ROLLUP_FIELDS)
    day = parse_day(body["day"], "day").strftime("%Y%m%d")
    settings = services(request).settings
    url = settings.redis_url or ""
    if not settings.external_redis:
        raise Invalid("no job queue is configured", code="no_worker")
    job = await asyncio.to_thread(enqueue_rollup, url, hall_id, day)
    return JSONResponse({"job": job, "hall": hall_id, "day": day}, status_code=202)


routes = [get_report, post_rollup]
