"""HTTP plumbing shared by every package's routes: bodies, fields, callers, errors, OpenAPI.

Each JSON route is declared with ``api(...)``, which records its method, path,
summary, roles, body fields and the type of its success body (``response``: a pydantic
model, or any type pydantic can describe, e.g. ``CitizenView | StaffTicketView``); the
OpenAPI document is generated from those declarations, so the document and the checks
cannot drift apart, and the fuzzing test validates every success body against it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hall.auth import Principal
from hall.auth.tokens import DeviceProof
from hall.errors import DomainError, Invalid
from hall.services import services

log = logging.getLogger("hall.http")
SESSION_COOKIE = "hall_session"
# what a request's scope keeps for outer middleware (the audit trail): its caller and
# the code of the domain error it was answered with
PRINCIPAL_SCOPE = "principal"
ERROR_SCOPE = "hall.error"


class BadRequest(DomainError):
    status = 400
    code = "malformed_request"


class TooLarge(DomainError):
    status = 413
    code = "body_too_large"


@dataclass(frozen=True)
class F:
    """A body field: its JSON type, whether it is required, and its allowed values."""

    name: str
    type: type = str
    required: bool = True
    choices: tuple[Any, ...] = ()
    max_length: int = 200
    description: str = ""

    def schema(self) -> dict[str, Any]:
        kind = {str: "string", int: "integer", bool: "boolean", float: "number"}[self.type]
        out: dict[str, Any] = {"type": kind}
        if self.choices:
            out["enum"] = list(self.choices)
        if self.type is str:
            out["maxLength"] = self.max_length
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class ApiSpec:
    """A route as OpenAPI states it: ``query`` parameters (all optional), the success
    status ``ok`` (200, 201 created, 202 accepted), and the ``media`` types a success may
    have besides JSON (``text/csv`` for ``?format=csv``, ``image/svg+xml`` for a QR code)."""

    method: str
    path: str
    summary: str
    roles: str
    body: tuple[F, ...] = ()
    tag: str = "tickets"
    query: tuple[F, ...] = ()
    ok: int = 200
    media: tuple[str, ...] = ()
    also: tuple[int, ...] = ()  # other statuses answered with the success body (readyz 503)
    response: Any = None  # the success body's type (None: any JSON object)


Handler = Callable[[Request], Awaitable[Response]]
REGISTRY: list[ApiSpec] = []


def api(method: str, path: str, summary: str, roles: str, body: tuple[F, ...] = (),
        tag: str = "tickets", *, query: tuple[F, ...] = (), ok: int = 200,
        media: tuple[str, ...] = (), also: tuple[int, ...] = (),
        response: Any = None) -> Callable[[Handler], Route]:
    """Declare a JSON route; returns the Starlette Route and records it for OpenAPI."""
    spec = ApiSpec(method, path, summary, roles, body, tag, query, ok, media, also, response)

    def wrap(handler: Handler) -> Route:
        if spec not in REGISTRY:
            REGISTRY.append(spec)
        return Route(path, handler, methods=[method])

    return wrap


async def read_body(request: Request, fields: tuple[F, ...]) -> dict[str, Any]:
    """Parse and check a JSON object body; 400 malformed, 413 too large, 422 bad field."""
    limit = services(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is over {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # bad UTF-8 is a ValueError; deep nesting recurses
            raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    known = {f.name for f in fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for f in fields:
        value = data.get(f.name)
        if value is None:
            if f.required:
                raise Invalid(f"field '{f.name}' is required")
            out[f.name] = None
            continue
        ok = isinstance(value, f.type) and not (f.type is not bool and isinstance(value, bool))
        if f.type is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise Invalid(f"field '{f.name}' must be {f.schema()['type']}")
        if f.choices and value not in f.choices:
            raise Invalid(f"field '{f.name}' must be one of {', '.join(map(str, f.choices))}")
        if isinstance(value, str) and len(value) > f.max_length:
            raise Invalid(f"field '{f.name}' is longer than {f.max_length} characters")
        out[f.name] = value
    return out


def path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not str(raw).isdigit():
        raise BadRequest(f"'{name}' must be a number, got '{raw}'")
    return int(raw)


def session_token(request: Request) -> str | None:
    """The bearer token of the ``Authorization`` header, else the session cookie.

    Never a token from the URL: URLs end up in logs, histories and Referer headers.
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE) or None


token_of = session_token


async def caller(request: Request) -> Principal | None:
    """Who is calling: a logged-in user or a device (header or cookie token).

    The one place where a request's principal is resolved (and kept in the scope):
    cross-site requests were already refused by ``hall.auth.guard``.
    """
    if PRINCIPAL_SCOPE not in request.scope:
        request.scope[PRINCIPAL_SCOPE] = await services(request).auth.resolve(
            session_token(request))
    principal: Principal | None = request.scope[PRINCIPAL_SCOPE]
    return principal


async def issuer(request: Request, hall: str) -> tuple[Principal | None, DeviceProof | None]:
    """``caller`` for a route whose own script checks the device in its atomic step (the
    ticket issue): a device token of ``hall`` comes with the ``DeviceProof`` that script
    must check, and may come from this process's cache (``hall.auth.tokens``); any other
    token is resolved as by ``caller`` (no proof)."""
    found = await services(request).auth.tokens.device(session_token(request), hall)
    if found is None:
        return await caller(request), None
    request.scope[PRINCIPAL_SCOPE] = found[0]
    return found


def proof_refused(request: Request, proof: DeviceProof) -> None:
    """A script refused ``proof`` (the device was revoked): forget the device in this
    process and answer as to any unknown token (the audit entry names no one)."""
    services(request).auth.tokens.devices_seen.drop_key(proof.key)
    request.scope[PRINCIPAL_SCOPE] = None


def error_response(status: int, code: str, message: str,
                   params: dict[str, str | int] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if params:
        error["params"] = params
    return JSONResponse({"error": error}, status_code=status)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    request.scope[ERROR_SCOPE] = exc.code
    return error_response(exc.status, exc.code, exc.message, exc.params)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 400: "malformed_request"}
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"),
                          str(exc.detail))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "something went wrong on our side")


OK_TEXT = dict(((200, "OK"), (201, "Created"), (202, "Accepted (queued)")))
ERROR_STATUSES = (
    (400, "malformed request"), (401, "not logged in"), (403, "wrong role or hall"),
    (404, "unknown hall/matter/window/ticket"), (405, "method not allowed"),
    (409, "illegal transition"), (413, "body too large"), (422, "invalid field"),
    (429, "too many attempts"), (503, "store unavailable or busy; try again"))


REF = "#/components/schemas/{model}"
STRICT = ConfigDict(extra="forbid")  # an answer with any other field breaks its schema


def record_model(name: str, record: type, fields: tuple[str, ...], **more: Any
                 ) -> type[BaseModel]:
    """A strict model of ``fields`` of a record (typed by the record's own annotations),
    every one present, plus ``more`` (pydantic field definitions): the schema of an
    allowlist projection, derived from what it projects rather than written again."""
    hints = get_type_hints(record)
    definitions: dict[str, Any] = {f: (hints[f], ...) for f in fields}
    model: type[BaseModel] = create_model(name, __config__=STRICT, **definitions, **more)
    return model



@cache
def _schema_of(kind: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A success body's JSON schema and the named schemas it refers to (as JSON text:
    cached, and every caller gets its own copy)."""
    schema = TypeAdapter(kind).json_schema(ref_template=REF, mode="serialization")
    named = schema.pop("$defs", {})
    if "title" in schema and "properties" in schema:  # a model: refer to it by name
        named[schema["title"]] = schema
        schema = {"$ref": REF.format(model=schema["title"])}
    return json.dumps(schema), tuple((k, json.dumps(v)) for k, v in named.items())


def response_schema(spec: ApiSpec, components: dict[str, Any]) -> dict[str, Any]:
    """The declared success body of a route (adding the models it names to ``components``)."""
    if spec.response is None:
        return {"type": "object"}
    schema, named = _schema_of(spec.response)
    for name, text in named:
        model = json.loads(text)
        if components.setdefault(name, model) != model:
            raise RuntimeError(f"two response models are named {name}")
    out: dict[str, Any] = json.loads(schema)
    return out


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    error = {"$ref": "#/components/schemas/Error"}
    components: dict[str, Any] = {"Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"],
                                 "properties": {"code": {"type": "string"},
                                                "message": {"type": "string"}}}},
    }}
    for spec in REGISTRY:
        body = response_schema(spec, components)
        op: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "description": f"Who may call: {spec.roles}.",
            "x-roles": spec.roles,
            "parameters": [
                {"name": p, "in": "path", "required": True,
                 "schema": {"type": "integer" if p in ("number", "window") else "string"}}
                for p in _path_params(spec.path)
            ] + [{"name": q.name, "in": "query", "required": False, "schema": q.schema()}
                 for q in spec.query],
            "responses": {
                str(spec.ok): {"description": OK_TEXT.get(spec.ok, "OK"), "content": {
                    **({} if "image/svg+xml" in spec.media
                       else {"application/json": {"schema": body}}),
                    **{m: {"schema": {"type": "string"}} for m in spec.media}}},
                **{str(s): {"description": d, "content": {"application/json": {"schema": error}}}
                   for s, d in ERROR_STATUSES},
                **{str(s): {"description": "answered with the success shape", "content": {
                    "application/json": {"schema": body}}} for s in spec.also},
            },
        }
        if spec.body:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False,
                "properties": {f.name: f.schema() for f in spec.body},
                "required": [f.name for f in spec.body if f.required],
            }}}}
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Government service hall queue API", "version": "1"},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items()))},
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]

