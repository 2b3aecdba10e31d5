"""Reading the audit trail: ``GET /api/halls/{hall}/audit`` (JSON or CSV) and ``GET /api/audit``.

Managers read their hall's trail, auditors the trails of their halls (every hall and
and the deployment's own trail). Admins manage accounts but do not
read or touch the trail (三权分立), and nobody can change it through the API: there is
no write route. Every read is itself recorded (action ``audit.read``).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any, get_type_hints

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hall.audit_store import AuditTrail, provide, trail_of
from hall.audit_trail import DEPLOYMENT, Entry, Stored, audit_day, csv_rows, matches
from hall.auth import Principal, Role, Unauthorized, require
from hall.component import Component
from hall.errors import Forbidden, Invalid, NotFound
from hall.http import STRICT, F, api, caller, record_model
from hall.services import services
from hall.text import parse_day

AuditEntry = record_model("AuditEntry", Stored, ("hall", "day", "seq", "hash"),
                          **{f: (t, ...) for f, t in get_type_hints(Entry).items()})


class AuditPage(BaseModel):
    """The trail's entries of the days asked, oldest first (``total`` before ``limit``)."""

    model_config = STRICT
    hall: str
    from_: str = Field(alias="from")
    to: str
    total: int
    entries: list[AuditEntry]  # type: ignore[valid-type]


MAX_DAYS = 366
MAX_ROWS = 10_000
QUERY = (
    F("from", str, max_length=10, description="first hall-local day, YYYY-MM-DD (default: today)"),
    F("to", str, max_length=10, description="last day, YYYY-MM-DD (default: the first day); "
      "at most 366 days"),
    F("actor", str, max_length=64, description="exact user name or device name"),
    F("role", str, max_length=16, description="exact role (admin, manager, clerk, auditor, "
      "kiosk, pad, display, phone, anonymous, system)"),
    F("action", str, max_length=64, description="action prefix, e.g. ticket. or login"),
    F("target", str, max_length=64, description="text the target contains, e.g. a number"),
    F("result", str, max_length=64, description="ok, refused or failed (or refused:<code>)"),
    F("format", str, choices=("json", "csv")),
    F("limit", int, description="newest entries kept, 1-10000 (default 1000; csv: 10000)"),
)


def _trail(request: Request) -> AuditTrail:
    trail = trail_of(request.app)
    assert trail is not None
    return trail


async def _answer(request: Request, hall: str, who: Principal) -> Response:
    trail = _trail(request)
    q = request.query_params
    today = datetime.strptime(audit_day(trail.clock(), trail.zones.get(hall)), "%Y%m%d").date()
    first = parse_day(q["from"], "from") if "from" in q else today
    last = parse_day(q["to"], "to") if "to" in q else first
    if last < first:
        raise Invalid("'to' is before 'from'", code="invalid_date")
    if last - first > timedelta(days=MAX_DAYS - 1):
        raise Invalid(f"ask for at most {MAX_DAYS} days at a time", code="invalid_date")
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv", code="invalid_field")
    raw_limit = q.get("limit", str(MAX_ROWS if fmt == "csv" else 1000))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_ROWS:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_ROWS}", code="invalid_field")
    filters: dict[str, Any] = {k: q[k] for k in ("actor", "role", "action", "target", "result")
                               if q.get(k)}
    found: list[Stored] = [s for s in await trail.entries(hall, first, last)
                           if matches(s, **filters)]
    total = len(found)
    found = found[-int(raw_limit):]
    await trail.append(hall, Entry(
        at=trail.clock(), actor=who.name, role=who.role.value,
        source=request.client.host if request.client else "-", action="audit.read",
        target=f"{first.isoformat()}..{last.isoformat()}",
        detail={"format": fmt, "rows": len(found), **filters}))
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(csv_rows(found))
        name = f"audit-{hall if hall != DEPLOYMENT else 'deployment'}-{first}-{last}.csv"
        return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    return JSONResponse({"hall": hall, "from": first.isoformat(), "to": last.isoformat(),
                         "total": total, "entries": [s.to_dict() for s in found]})


@api("GET", "/api/halls/{hall}/audit",
     "The hall's security audit trail (filters: from, to, actor, role, action, target, "
     "result; format=csv)", "manager, auditor", tag="audit", query=QUERY, media=("text/csv",),
     response=AuditPage)
async def hall_audit(request: Request) -> Response:
    hall: str = request.path_params["hall"]
    if hall not in services(request).halls:
        raise NotFound(f"no hall '{hall}'", code="unknown_hall")
    who = require(await caller(request), hall, Role.MANAGER, Role.AUDITOR)
    return await _answer(request, hall, who)


@api("GET", "/api/audit",
     "The deployment's own audit trail: sign-ins of unknown or hall-less accounts, "
     "refused requests to no hall", "auditor", tag="audit", query=QUERY, media=("text/csv",),
     response=AuditPage)
async def deployment_audit(request: Request) -> Response:
    who = await caller(request)
    if who is None:
        raise Unauthorized("please log in")
    if who.role is not Role.AUDITOR:
        raise Forbidden(f"this needs the role auditor; you are {who.role.value}")
    return await _answer(request, DEPLOYMENT, who)


routes = [hall_audit, deployment_audit]

# the trail (provided to every package) and its read routes; the app factory adds the
# recording middleware (hall.audit_store.AuditContext)
component = Component("audit", routes=list[Any](routes), provide=provide)
