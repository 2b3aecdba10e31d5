"""Property-based fuzzing over ``/openapi.json`` (schemathesis): every operation, as every
kind of caller, never answers 5xx and always answers as its declaration says (status,
content type, body schema).

The cases come from the document the app serves; each example is sent as generated
(random halls, ids, bodies; anonymous and as a manager) and in the district hall by every
caller: anonymous, each device kind, a clerk logged in at window 1, a manager, an
auditor, an admin. Refusals must be declared 4xx with the error shape; nothing may crash.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

# The document is built from the route declarations, so it is known at import time;
# test_served_document_is_the_fuzzed_one proves the app serves the same document.
import hall.app  # noqa: F401  (imports every package's routes into the registry)
from hall.auth import Role
from hall.http import openapi_document
from tests.conftest import Accounts

schema = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 4


@pytest.fixture
def callers(client: TestClient, accounts: Accounts) -> dict[str, dict[str, str]]:
    found = {
        "anonymous": {},
        "kiosk": accounts.device(Role.KIOSK),
        "pad": accounts.device(Role.PAD, window=1),
        "display": accounts.device(Role.DISPLAY),
        "phone": accounts.device(Role.PHONE),
        "clerk": accounts.clerk("S01"),
        "manager": accounts.user("boss", Role.MANAGER),
        "auditor": accounts.user("eye", Role.AUDITOR),
        "admin": accounts.user("root", Role.ADMIN),
    }
    assert client.post("/api/halls/district/windows/1/login",
                       headers=found["clerk"]).status_code == 200
    client.cookies.clear()
    return found


def send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    merged = {**(kwargs.get("headers") or {}), **headers}
    if "json" in kwargs and not any(k.lower() == "content-type" for k in merged):
        merged["content-type"] = "application/json"
    client.cookies.clear()
    return client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                          headers=merged, content=_content(kwargs))


def _content(kwargs: dict[str, Any]) -> Any:
    if "json" in kwargs:
        import json

        return json.dumps(kwargs["json"]).encode()
    return kwargs.get("data")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_operation_crashes_or_breaks_its_declaration(
        case: Any, client: TestClient, callers: dict[str, dict[str, str]]) -> None:
    # as generated (mostly unknown halls and ids: two callers suffice), then in the
    # district hall by every caller
    variants = [(case, ("anonymous", "manager"))]
    if "hall" in (case.path_parameters or {}):
        variants.append((case.operation.Case(
            path_parameters={**case.path_parameters, "hall": "district"},
            query=case.query, headers=case.headers, body=case.body,
            media_type=case.media_type), tuple(callers)))
    else:
        variants = [(case, tuple(callers))]
    for variant, who_calls in variants:
        for who in who_calls:
            headers = callers[who]
            response = send(client, variant, headers)
            try:
                variant.validate_response(response, checks=CHECKS)
            except Exception as exc:
                raise AssertionError(f"as {who}: {response.status_code} {response.text[:300]}"
                                     ) from exc


def test_a_day_flows_answers_match_their_declared_bodies(
        client: TestClient, callers: dict[str, dict[str, str]]) -> None:
    """The fuzzer mostly meets refusals (random ids); here every kind of success body is
    produced on purpose (as anyone, the citizen, the clerk, a manager) and checked against
    the schema its operation declares, whose public models refuse any other field."""
    d = "/api/halls/district"
    clerk, kiosk, manager = callers["clerk"], callers["kiosk"], callers["manager"]
    answers: list[tuple[str, str, Any]] = []

    def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        client.cookies.clear()
        r = client.request(method, path, headers=headers, **kw)
        assert r.status_code < 300, (method, path, r.text)
        answers.append((method, path, r))
        return r.json()

    ticket = call("POST", f"{d}/tickets", kiosk, json={"matter": "QY-KB"})
    call("POST", f"{d}/tickets", kiosk, json={"matter": "QY-KB"})
    for who in ({}, manager):
        call("GET", f"{d}/tickets/{ticket['id']}", who)
        call("GET", f"{d}/windows/1", who)
        call("GET", f"{d}/state", who)
    call("POST", f"{d}/windows/1/call-next", clerk)
    call("GET", f"{d}/windows/1", {})
    call("GET", f"{d}/windows/1", clerk)
    call("GET", f"{d}/state", {})
    call("POST", f"{d}/windows/1/start", clerk)
    call("POST", f"{d}/windows/1/finish", clerk)
    call("GET", f"{d}/windows/1/pending-rating", callers["pad"])
    call("GET", f"{d}/tickets/{ticket['id']}/rating", {})
    call("POST", f"{d}/tickets/{ticket['id']}/rating", {}, json={"level": "satisfied"})
    call("POST", f"{d}/windows/1/pause", clerk)
    call("GET", "/api/halls", {})
    call("GET", d, {})
    call("GET", "/api/me", clerk)
    call("GET", "/api/users", callers["admin"])
    call("GET", "/api/devices", callers["admin"])
    call("GET", f"{d}/my-windows", clerk)
    call("GET", f"{d}/notices", {})
    call("GET", f"{d}/audit", manager)
    call("GET", "/api/audit", callers["auditor"])
    call("GET", "/api/hub", {})
    call("GET", "/healthz", {})
    call("GET", "/readyz", {})
    for method, path, response in answers:
        shape = path.replace(ticket["id"], "{ticket}").replace("/windows/1", "/windows/{window}")
        shape = shape.replace("/halls/district", "/halls/{hall}")
        operation = schema[shape][method]
        case = operation.Case(path_parameters={"hall": "district", "window": 1,
                                               "ticket": ticket["id"]})
        case.validate_response(response, checks=[response_schema_conformance])


def test_a_public_answer_with_one_field_more_breaks_its_schema() -> None:
    """The allowlist in the schema: a window as anyone sees it may not carry a clerk id."""
    import httpx

    window = {"number": 1, "status": "open", "busy": False, "current_number": None,
              "current_status": None, "staffed": True, "clerk_name": "王", "served": 0,
              "clerk_staff_number": "001", "queues": ["A"], "ticket": None}
    case = schema["/api/halls/{hall}/windows/{window}"]["GET"].Case(
        path_parameters={"hall": "district", "window": 1})
    url = "http://testserver/api/halls/district/windows/1"

    def answer(body: dict[str, Any]) -> httpx.Response:
        response = httpx.Response(200, json=body, request=httpx.Request("GET", url))
        response.read()
        response.elapsed = timedelta(0)
        return response

    case.validate_response(answer(window), checks=[response_schema_conformance])
    with pytest.raises(BaseException) as refused:  # schemathesis: a FailureGroup
        case.validate_response(answer({**window, "clerk": "S01"}),
                               checks=[response_schema_conformance])
    assert "violates schema" in str(getattr(refused.value, "exceptions", [refused.value])[0])


def test_every_route_declares_its_answer() -> None:
    """A route added without ``response=`` (its success body a bare JSON object) fails."""
    doc = openapi_document()
    bare = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = next(r for s, r in op["responses"].items() if s.startswith("2"))
            body = ok.get("content", {}).get("application/json")
            if body is not None and body["schema"] in ({"type": "object"}, {}):
                bare.add(f"{method.upper()} {path}")
    assert bare == set(), "declare these answers (api(response=...))"


def test_served_document_is_the_fuzzed_one(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == openapi_document()


@pytest.mark.parametrize("query", [
    {"from": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"},
    {"from": "2026-02-30"}, {"from": "9999-12-31", "to": "9999-12-31", "format": "csv"},
    {"to": "0001-01-01"}, {"from": "2026-01-01", "to": "2026-12-31", "format": "xml"},
])
def test_date_edges_are_4xx_or_answers_never_500(
        client: TestClient, callers: dict[str, dict[str, str]], query: dict[str, str]) -> None:
    for path in ("/api/halls/district/reports", "/api/halls/district/audit"):
        response = client.get(path, params=query, headers=callers["manager"])
        assert response.status_code < 500, (path, query, response.text)
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text
