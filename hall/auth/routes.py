"""The sign-in routes (login, logout, me, password change, second factor enrolment) and
the admins' account and device routes. Every answer about a person is built by ``me``;
no password hash, TOTP secret or token digest ever leaves the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from hall import audit_store
from hall.auth.accounts import SETUP_PATH, AuthStore, refused_account
from hall.auth.principal import Principal, Role, Unauthorized, require_any
from hall.errors import DomainError, Invalid, NotFound
from hall.http import SESSION_COOKIE, F, api, caller, read_body, session_token
from hall.services import Key, services

# Where a clerk is logged in now: (hall, window) or None; provided by the ticketing package
# (the foundation cannot read windows itself).
ClerkWindow = Callable[[tuple[str, ...], str], Awaitable[tuple[str, int] | None]]
CLERK_WINDOW: Key[ClerkWindow] = Key("clerk_window")


def _auth(request: Request) -> AuthStore:
    return services(request).auth


def address(request: Request) -> str:
    return request.client.host if request.client else "-"


# ---- the answers' shapes (declared in /openapi.json) ---------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Me(_Strict):
    """A signed-in person or device as ``me`` describes it (no secret)."""

    name: str
    role: str
    halls: list[str]
    staff_id: str | None
    display_name: str
    window: int | None
    pending: str | None
    window_hall: str | None = None  # /api/me: the hall of a clerk's window


class Whoami(_Strict):
    user: Me | None


class Session(_Strict):
    token: str
    user: Me
    recovery_codes: list[str] | None = None  # once, when the second factor is set up


class Ok(_Strict):
    ok: bool


class TotpStart(_Strict):
    secret: str
    uri: str
    qr_svg: str


class SetupLink(_Strict):
    """A new or reset account's single-use set-up link (shown once)."""

    username: str
    setup_link: str
    expires_at: float


class SetupFor(_Strict):
    username: str


class UserRow(_Strict):
    username: str
    role: str
    halls: list[str]
    staff_id: str | None
    display_name: str
    disabled: bool
    must_change: bool
    second_factor: bool


class UserList(_Strict):
    users: list[UserRow]


class DeviceRow(_Strict):
    id: str
    kind: str
    hall: str
    name: str
    window: int | None
    priority_groups: list[str] | None
    created: float
    expires: float | None
    expired: bool


class DeviceList(_Strict):
    devices: list[DeviceRow]


class Revoked(_Strict):
    revoked: list[str]


def me(principal: Principal | None) -> dict[str, object] | None:
    if principal is None:
        return None
    return {"name": principal.name, "role": principal.role.value, "halls": list(principal.halls),
            "staff_id": principal.staff_id, "display_name": principal.display_name,
            "window": principal.window, "pending": principal.pending or None}


def _signed_in(request: Request, token: str, principal: Principal,
               extra: dict[str, Any] | None = None) -> Response:
    response = JSONResponse({"token": token, "user": me(principal), **(extra or {})})
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=services(request).settings.secure_cookies,
                        max_age=_auth(request).session_seconds, path="/")
    return response


LOGIN_FIELDS = (F("username", str, max_length=64), F("password", str, max_length=256),
                F("code", str, required=False, max_length=32,
                  description="the authenticator's 6-digit code or a recovery code"))


@api("POST", "/api/login", "Log in; returns a session token and sets the session cookie",
     "anyone", LOGIN_FIELDS, tag="auth", response=Session)
async def login(request: Request) -> Response:
    body = await read_body(request, LOGIN_FIELDS)
    audit_store.note("login", actor=body["username"], target=body["username"])
    try:
        token, principal = await _auth(request).login(body["username"], body["password"],
                                                      body["code"], address(request))
    except DomainError as exc:  # an account's failed login goes to its halls' trails
        account = refused_account(exc)
        if account is not None:
            audit_store.note(halls=account.halls, role=account.role.value)
        raise
    audit_store.note(halls=principal.halls, role=principal.role.value)
    return _signed_in(request, token, principal)


@api("POST", "/api/logout", "End the session", "anyone", tag="auth", response=Ok)
async def logout(request: Request) -> Response:
    token = session_token(request)
    if token:
        await _auth(request).logout(token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@api("GET", "/api/me", "Who the caller is (a clerk: the window they are logged in at)",
     "anyone", tag="auth", response=Whoami)
async def whoami(request: Request) -> Response:
    who = await caller(request)
    data = me(who)
    where = services(request).find(CLERK_WINDOW)
    if data is not None and who is not None and who.role is Role.CLERK and who.staff_id \
            and where is not None:
        at = await where(who.halls, who.staff_id)
        data["window"], data["window_hall"] = (at[1], at[0]) if at else (None, None)
    return JSONResponse({"user": data})


def _session_user(principal: Principal | None) -> Principal:
    if principal is None or principal.is_device:
        raise Unauthorized("please log in")
    return principal


PASSWORD_FIELDS = (F("current", str, max_length=256), F("new", str, max_length=256))


@api("POST", "/api/password", "Change your own password; every other session ends",
     "any signed-in person", PASSWORD_FIELDS, tag="auth", response=Session)
async def change_password(request: Request) -> Response:
    body = await read_body(request, PASSWORD_FIELDS)
    who = _session_user(await caller(request))
    audit_store.note("password.change", target=who.name)
    token, principal = await _auth(request).change_own_password(
        who.name, body["current"], body["new"], address(request))
    return _signed_in(request, token, principal)


@api("POST", "/api/totp/enrol", "Start setting up the second factor: a secret and its QR code",
     "any signed-in person", tag="auth", response=TotpStart)
async def totp_enrol(request: Request) -> Response:
    who = _session_user(await caller(request))
    if who.pending == "password":
        require_any(who)  # raises password_change_required
    return JSONResponse(await _auth(request).begin_totp(who.name))


TOTP_FIELDS = (F("code", str, max_length=32),)


@api("POST", "/api/totp/confirm", "Finish the second factor set-up; returns recovery codes",
     "any signed-in person", TOTP_FIELDS, tag="auth", response=Session)
async def totp_confirm(request: Request) -> Response:
    body = await read_body(request, TOTP_FIELDS)
    who = _session_user(await caller(request))
    if who.pending == "password":
        require_any(who)
    audit_store.note("totp.enrol", target=who.name)
    codes, token, principal = await _auth(request).confirm_totp(who.name, body["code"])
    return _signed_in(request, token, principal, {"recovery_codes": codes})


# --- administration (admins only) --------------------------------------------------------
async def _admin(request: Request) -> Principal:
    return require_any(await caller(request), Role.ADMIN)


@api("GET", "/api/users", "Every staff account (no secrets)", "admin", tag="accounts",
     response=UserList)
async def list_users(request: Request) -> Response:
    await _admin(request)
    return JSONResponse({"users": await _auth(request).users()})


USER_FIELDS = (
    F("username", str, max_length=64),
    F("role", str, choices=("admin", "manager", "clerk", "auditor")),
    F("halls", str, required=False, max_length=400, description="comma-separated hall ids"),
    F("staff_id", str, required=False, max_length=64),
    F("display_name", str, required=False, max_length=100),
)


def _halls(raw: str | None) -> tuple[str, ...]:
    return tuple(h.strip() for h in (raw or "").split(",") if h.strip())


def _link(username: str, token: str, expires: float) -> JSONResponse:
    return JSONResponse({"username": username, "setup_link": SETUP_PATH + token,
                         "expires_at": expires}, status_code=201)


@api("POST", "/api/users", "Create an account with a single-use, expiring set-up link "
     "(shown once; the person sets their own password there)", "admin", USER_FIELDS,
     tag="accounts", ok=201, response=SetupLink)
async def create_user(request: Request) -> Response:
    body = await read_body(request, USER_FIELDS)
    await _admin(request)
    audit_store.note("user.create", target=body["username"], role_given=body["role"])
    auth = _auth(request)
    await auth.add_user(body["username"], None, Role(body["role"]), _halls(body["halls"]),
                        body["staff_id"], body["display_name"] or "")
    return _link(body["username"], *await auth.open_setup(body["username"]))


UPDATE_FIELDS = (
    F("role", str, required=False, choices=("admin", "manager", "clerk", "auditor")),
    F("halls", str, required=False, max_length=400, description="comma-separated hall ids"),
    F("disabled", bool, required=False),
)


@api("POST", "/api/users/{username}", "Change an account's role, halls or disabled flag; "
     "its sessions end", "admin", UPDATE_FIELDS, tag="accounts", response=Ok)
async def update_user(request: Request) -> Response:
    body = await read_body(request, UPDATE_FIELDS)
    await _admin(request)
    username = request.path_params["username"]
    audit_store.note("user.update", target=username,
                     **{f"new_{k}": v for k, v in body.items() if v is not None})
    await _auth(request).update(
        username, role=Role(body["role"]) if body["role"] else None,
        halls=_halls(body["halls"]) if body["halls"] is not None else None,
        disabled=body["disabled"])
    return JSONResponse({"ok": True})


@api("POST", "/api/users/{username}/password", "Reset an account: its password stops "
     "working, its sessions end, and a new single-use set-up link is shown once", "admin",
     tag="accounts", ok=201, response=SetupLink)
async def reset_password(request: Request) -> Response:
    await _admin(request)
    username = request.path_params["username"]
    audit_store.note("user.password_reset", target=username)
    return _link(username, *await _auth(request).open_setup(username))


# --- set-up links (anyone holding one) ---------------------------------------------------
SETUP_TOKEN = F("token", str, max_length=100, description="the token of the link's fragment")
SETUP_FIELDS = (SETUP_TOKEN, F("password", str, max_length=256))


@api("POST", "/api/setup/check", "Whose set-up link this is (before choosing a password)",
     "anyone holding a set-up link", (SETUP_TOKEN,), tag="auth", response=SetupFor)
async def setup_check(request: Request) -> Response:
    body = await read_body(request, (SETUP_TOKEN,))
    return JSONResponse({"username": await _auth(request).setup_user(body["token"])})


@api("POST", "/api/setup", "Use a set-up link: set the password (the link then stops "
     "working), end every other session, sign in", "anyone holding a set-up link",
     SETUP_FIELDS, tag="auth", response=Session)
async def setup_account(request: Request) -> Response:
    body = await read_body(request, SETUP_FIELDS)
    audit_store.note("account.setup")
    token, principal = await _auth(request).complete_setup(body["token"], body["password"])
    audit_store.note(actor=principal.name, role=principal.role.value, halls=principal.halls,
                     target=principal.name)
    return _signed_in(request, token, principal)


@api("DELETE", "/api/users/{username}", "Remove an account; its sessions end", "admin",
     tag="accounts", response=Ok)
async def remove_user(request: Request) -> Response:
    who = await _admin(request)
    username = request.path_params["username"]
    audit_store.note("user.remove", target=username)
    if username == who.name:
        raise Invalid("you cannot remove your own account", code="own_account")
    await _auth(request).remove(username)
    return JSONResponse({"ok": True})


@api("GET", "/api/devices", "Every device (no tokens)", "admin", tag="accounts",
     response=DeviceList)
async def list_devices(request: Request) -> Response:
    await _admin(request)
    return JSONResponse({"devices": await _auth(request).tokens.devices()})


@api("DELETE", "/api/devices/{device}", "Revoke a device by id or name; effective at once",
     "admin", tag="accounts", response=Revoked)
async def revoke_device(request: Request) -> Response:
    await _admin(request)
    audit_store.note("device.revoke", target=request.path_params["device"])
    gone = await _auth(request).tokens.revoke_device(request.path_params["device"])
    if not gone:
        raise NotFound("no such device", code="unknown_device")
    return JSONResponse({"revoked": gone})


routes: list[BaseRoute] = [login, logout, whoami, change_password, totp_enrol, totp_confirm,
                           list_users, create_user, update_user, reset_password, remove_user,
                           list_devices, revoke_device, setup_check, setup_account]
