"""The tide JSON API for hall managers: state, mode, confirm proposals, override and release."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from hall.auth import Role, require
from hall.errors import Invalid, NotFound
from hall.http import F, api, caller, read_body
from hall.services import services
from tide.controller import CONTROLLER
from tide.policy import Action, Decision
from tide.service import TIDE, TideService
from tide.settings import Mode
from tide.views import Confirmed, ModeSet, Overridden, PlanAnswer, Released, TideState

MANAGERS = (Role.ADMIN, Role.MANAGER)


async def _manager(request: Request) -> tuple[TideService, str, str]:
    service = services(request).get(TIDE)
    hall_id: str = request.path_params["hall"]
    service.store.hall(hall_id)
    who = require(await caller(request), hall_id, *MANAGERS)
    return service, hall_id, who.staff_id or who.name


@api("GET", "/api/halls/{hall}/tide", "Tide state: mode, per-queue load, tide and lendable "
     "windows, pending proposals, overrides, recent decisions, the leading controller",
     "manager, admin", tag="tide", response=TideState)
async def tide_state(request: Request) -> JSONResponse:
    service, hall_id, _ = await _manager(request)
    state = await service.state(hall_id)
    controller = services(request).find(CONTROLLER)
    state["controller"] = controller.token if controller is not None else None
    return JSONResponse(state)


MODE_FIELDS = (F("mode", str, choices=tuple(m.value for m in Mode),
                 description="auto: apply; advise: the manager confirms; off: no decisions"),)


@api("PUT", "/api/halls/{hall}/tide/mode", "Set the controller's mode", "manager, admin",
     MODE_FIELDS, tag="tide", response=ModeSet)
async def tide_mode(request: Request) -> JSONResponse:
    service, hall_id, by = await _manager(request)
    body = await read_body(request, MODE_FIELDS)
    await service.set_mode(hall_id, Mode(body["mode"]), by)
    return JSONResponse({"mode": body["mode"]})


CONFIRM_FIELDS = (F("id", str, max_length=40, description="pending id, e.g. '12:open'"),
                  F("accept", bool, required=False, description="false dismisses it"))


@api("POST", "/api/halls/{hall}/tide/confirm", "Confirm (or dismiss) a proposed decision "
     "(advise mode)", "manager, admin", CONFIRM_FIELDS, tag="tide",
     response=Confirmed)
async def tide_confirm(request: Request) -> JSONResponse:
    service, hall_id, by = await _manager(request)
    body = await read_body(request, CONFIRM_FIELDS)
    accept = body["accept"] is not False
    d = await service.confirm(hall_id, body["id"], by, accept)
    return JSONResponse({"decision": d.to_dict(), "status": "confirmed" if accept
                         else "dismissed"})


OVERRIDE_FIELDS = (
    F("window", int), F("action", str, choices=tuple(a.value for a in Action)),
    F("clerk", str, required=False, max_length=64,
      description="open: the standby clerk (default: the first free one on the roster)"),
    F("queues", str, required=False, max_length=60,
      description="lend: comma-separated queue letters the window serves, in order"),
    F("reason", str, required=False, max_length=200),
)


@api("POST", "/api/halls/{hall}/tide/override", "Open, close, lend or return a window by hand; "
     "the controller leaves it alone until released", "manager, admin", OVERRIDE_FIELDS,
     tag="tide", response=Overridden)
async def tide_override(request: Request) -> JSONResponse:
    service, hall_id, by = await _manager(request)
    body = await read_body(request, OVERRIDE_FIELDS)
    cfg = service.store.hall(hall_id)
    number = body["window"]
    if cfg.window(number) is None:
        raise NotFound(f"hall '{hall_id}' has no window {number}", code="unknown_window")
    action = Action(body["action"])
    queues = tuple(q.strip() for q in (body["queues"] or "").split(",") if q.strip())
    if action is Action.LEND and not queues:
        raise Invalid("lending a window needs 'queues'", code="invalid_field")
    for q in queues:
        if cfg.queue(q) is None:
            raise Invalid(f"hall '{hall_id}' has no queue '{q}'", code="unknown_queue")
    clerk = body["clerk"]
    if clerk is not None and cfg.staff_member(clerk) is None:
        raise Invalid(f"hall '{hall_id}' has no staff member '{clerk}'", code="unknown_staff")
    reason = body["reason"] or f"manager {by}"
    d = Decision(action, number, queues, clerk, f"管理人员指令：{reason}",
                 f"manager override: {reason}")
    window = await service.override(hall_id, d, by)
    return JSONResponse({"window": window.to_dict(), "override": d.to_dict()})


RELEASE_FIELDS = (F("window", int),)


@api("POST", "/api/halls/{hall}/tide/release", "Release a manager override; the controller "
     "decides for the window again", "manager, admin", RELEASE_FIELDS, tag="tide",
     response=Released)
async def tide_release(request: Request) -> JSONResponse:
    service, hall_id, by = await _manager(request)
    body = await read_body(request, RELEASE_FIELDS)
    await service.release(hall_id, body["window"], by)
    return JSONResponse({"released": body["window"]})


@api("GET", "/api/halls/{hall}/tide/plan", "The latest staffing plan saved by `hall plan "
     "--save` (per half hour: general windows and clerks; waits under the plan and under "
     "today's roster), or null", "manager, admin", tag="tide", response=PlanAnswer)
async def tide_plan(request: Request) -> JSONResponse:
    service, hall_id, _ = await _manager(request)
    return JSONResponse({"plan": await service.plan(hall_id)})


routes = [tide_state, tide_mode, tide_confirm, tide_override, tide_release, tide_plan]
