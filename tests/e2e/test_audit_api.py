"""The audit trail over HTTP: who did what is recorded with the action (refusals too),
managers and auditors read it (filters, CSV), admins and clerks cannot, and
``hall audit verify`` finds an edited or deleted entry."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import Any

import redis
from starlette.testclient import TestClient

from hall.auth import Role
from tests.conftest import PASSWORD, Accounts
from tests.support import ROOT

D = "/api/halls/district"


def trail(client: TestClient, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    r = client.get(f"{D}/audit", params=query, headers=headers)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return [e for e in entries if e["action"] != "audit.read"]


def day_flow(client: TestClient, accounts: Accounts) -> dict[str, Any]:
    kiosk = accounts.device(Role.KIOSK)
    s01 = accounts.clerk("S01")
    manager = accounts.user("boss", Role.MANAGER)
    auditor = accounts.user("eye", Role.AUDITOR)
    client.cookies.clear()
    tickets = [client.post(f"{D}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
               for _ in range(3)]
    assert client.post(f"{D}/windows/1/login", headers=s01).status_code == 200
    assert client.post(f"{D}/windows/1/call-next", headers=s01).status_code == 200
    assert client.post(f"{D}/windows/1/no-show", headers=s01).status_code == 200
    refused = client.post(f"{D}/windows/1/call", json={"number": tickets[2]["number"]},
                          headers=s01)
    assert refused.status_code == 422
    no_reason = client.post(f"{D}/windows/1/call", json={"number": tickets[2]["number"],
                                                         "reason": "  "}, headers=s01)
    assert no_reason.json()["error"]["code"] == "reason_required"
    out_of_order = client.post(f"{D}/windows/1/call", headers=s01, json={
        "number": tickets[2]["number"], "reason": "老人行动不便"})
    assert out_of_order.status_code == 200, out_of_order.text
    priority = client.post(f"{D}/tickets", json={"matter": "QY-KB", "priority_group": "elderly"},
                           headers=s01)
    assert priority.json()["error"]["code"] == "reason_required"
    assert client.post(f"{D}/tickets", headers=s01, json={
        "matter": "QY-KB", "priority_group": "elderly", "reason": "拄拐"}).status_code == 201
    bad = client.post("/api/login", json={"username": "district-S01", "password": "nope"})
    assert bad.status_code == 401
    client.cookies.clear()
    return {"kiosk": kiosk, "s01": s01, "manager": manager, "auditor": auditor,
            "tickets": tickets}


def test_every_action_is_recorded_with_who_where_and_result(
        client: TestClient, accounts: Accounts, redis_url: str) -> None:
    flow = day_flow(client, accounts)
    entries = trail(client, flow["manager"])
    issued = [e for e in entries if e["action"] == "ticket.issued"]
    assert [e["target"] for e in issued[:3]] == [f"ticket {t['number']}" for t in flow["tickets"]]
    assert {(e["actor"], e["role"], e["result"]) for e in issued[:3]} == {
        ("kiosk-test", "kiosk", "ok")}
    assert all(e["source"] == "testclient" for e in entries)
    called = [e for e in entries if e["action"] == "ticket.called"]
    assert called[0]["actor"] == "district-S01" and called[0]["role"] == "clerk"
    assert called[0]["target"] == f"window 1, ticket {flow['tickets'][0]['number']}"
    assert called[1]["reason"] == "老人行动不便"
    assert [e["action"] for e in entries if e["actor"] == "district-S01"][:2] == [
        "login", "window.login"]
    refusals = [e for e in entries if e["result"].startswith("refused")]
    assert [r["result"] for r in refusals] == [
        "refused:invalid_field", "refused:reason_required", "refused:reason_required",
        "refused:bad_credentials"]  # the clerk's failed login: in the clerk's hall
    by_hand = [e for e in entries if e["action"] == "ticket.issued" and e["role"] == "clerk"]
    assert by_hand[0]["reason"] == "拄拐" and by_hand[0]["detail"]["priority_group"] == "elderly"
    # no ticket secret anywhere in the trail
    text = client.get(f"{D}/audit", params={"format": "csv"}, headers=flow["manager"]).text
    assert all(t["id"] not in text for t in flow["tickets"])
    # every committed ticket event has its entry (the same atomic step)
    r = redis.Redis.from_url(redis_url)
    events = [f[b"type"].decode() for _, f in r.xrange("hall:{district}:events")]
    assert sorted(e for e in events if e.startswith("ticket.")) == sorted(
        e["action"] for e in entries if e["action"].startswith("ticket.")
        and e["result"] == "ok")


def test_failed_logins_go_to_the_accounts_hall_and_unknown_users_to_the_deployment(
        client: TestClient, accounts: Accounts) -> None:
    flow = day_flow(client, accounts)
    assert client.post("/api/login", json={"username": "nobody-at-all",
                                           "password": "guess-guess-guess"}).status_code == 401
    client.cookies.clear()
    hall_failed = [e for e in trail(client, flow["auditor"], action="login")
                   if e["result"] == "refused:bad_credentials"]
    assert [(e["actor"], e["role"]) for e in hall_failed] == [("district-S01", "clerk")]
    r = client.get("/api/audit", params={"action": "login"}, headers=flow["auditor"])
    assert r.status_code == 200
    deployment = [e["actor"] for e in r.json()["entries"]
                  if e["result"] == "refused:bad_credentials"]
    assert deployment == ["nobody-at-all"]
    assert PASSWORD not in r.text and "nope" not in r.text and "guess-guess" not in r.text
    # throttled attempts of the account are in its hall's trail too
    codes = set()
    for _ in range(6):
        client.cookies.clear()
        codes.add(client.post("/api/login", json={"username": "district-S01",
                                                  "password": "still wrong"}).status_code)
    assert 429 in codes
    client.cookies.clear()
    throttled = [e for e in trail(client, flow["auditor"], action="login")
                 if e["result"] == "refused:too_many_attempts"]
    assert throttled and {(e["actor"], e["role"]) for e in throttled} == {
        ("district-S01", "clerk")}


def test_filters_csv_and_who_may_read(client: TestClient, accounts: Accounts) -> None:
    flow = day_flow(client, accounts)
    mine = trail(client, flow["auditor"], actor="district-S01", action="ticket.called")
    assert len(mine) == 2 and {e["action"] for e in mine} == {"ticket.called"}
    assert {e["result"] for e in trail(client, flow["manager"], result="refused")} == {
        "refused:invalid_field", "refused:reason_required", "refused:bad_credentials"}
    number = flow["tickets"][2]["number"]
    assert all(number in e["target"] for e in trail(client, flow["manager"], target=number))
    r = client.get(f"{D}/audit", params={"format": "csv", "role": "kiosk"},
                   headers=flow["auditor"])
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["hall", "day", "seq"] and len(rows) == 4
    # reading is itself recorded, with the reader
    reads = [e for e in client.get(f"{D}/audit", params={"action": "audit.read"},
                                   headers=flow["manager"]).json()["entries"]]
    assert {e["actor"] for e in reads} >= {"boss", "eye"}
    # admins manage accounts, not the trail (三权分立); clerks and devices do not read it
    admin = accounts.user("root", Role.ADMIN)
    for headers, status in ((admin, 403), (flow["s01"], 403), (flow["kiosk"], 403), ({}, 401)):
        client.cookies.clear()
        assert client.get(f"{D}/audit", headers=headers).status_code == status
        assert client.get("/api/audit", headers=headers).status_code == status
    other = accounts.user("far", Role.MANAGER, hall="county")
    client.cookies.clear()
    assert client.get(f"{D}/audit", headers=other).status_code == 403
    assert client.get("/api/audit", headers=flow["manager"]).status_code == 403
    # nothing writes the trail over HTTP
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, f"{D}/audit", headers=admin).status_code == 405
    for query, code in (({"from": "2999-12-31"}, 200), ({"from": "9999-12-31"}, 422),
                        ({"from": "2026-13-01"}, 422),
                        ({"from": "2026-01-02", "to": "2026-01-01"}, 422),
                        ({"from": "2020-01-01", "to": "2026-01-01"}, 422),
                        ({"format": "xml"}, 422), ({"limit": "0"}, 422)):
        assert client.get(f"{D}/audit", params=query, headers=flow["manager"]).status_code \
            == code, query


def verify(redis_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hall.cli", "audit", "verify"], cwd=ROOT,
                          env={**os.environ, "REDIS_URL": redis_url}, capture_output=True,
                          text=True, timeout=60)


def test_hall_audit_verify_names_the_first_broken_entry(
        client: TestClient, accounts: Accounts, redis_url: str) -> None:
    day_flow(client, accounts)
    ok = verify(redis_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "district: OK" in ok.stdout and "deployment: OK" in ok.stdout
    r = redis.Redis.from_url(redis_url)
    day = r.get("hall:{district}:audit:head").decode().split(" ")[0]
    key = f"hall:{{district}}:audit:{day}"
    original = r.lindex(key, 4).decode()
    r.lset(key, 4, original.replace('"ok"', '"refused:x"'))  # an edit
    broken = verify(redis_url)
    assert broken.returncode == 1
    assert f"district: BROKEN at hall district day {day} entry #5: its content was edited" \
        in broken.stdout
    r.lset(key, 4, original)
    r.lrem(key, 1, r.lindex(key, 2))  # a deletion in the middle
    assert f"day {day} entry #3: numbered #4" in verify(redis_url).stdout
    r.delete(key)
    r.rpush(key, *[original])  # the day replaced by one line
    assert verify(redis_url).returncode == 1


def test_account_changes_from_the_command_line_are_in_the_deployment_trail(
        redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    hall_cli = [sys.executable, "-m", "hall.cli"]
    added = subprocess.run([*hall_cli, "user", "add", "newclerk", "--role", "clerk", "--hall",
                            "district", "--staff", "S05"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    subprocess.run([*hall_cli, "user", "disable", "newclerk"], cwd=ROOT, env=env,
                   capture_output=True, text=True, timeout=60, check=True)
    r = redis.Redis.from_url(redis_url)
    day = r.get("hall:{*}:audit:head").decode().split(" ")[0]
    lines = [x.decode() for x in r.lrange(f"hall:{{*}}:audit:{day}", 0, -1)]
    entries = [json.loads(line.split(" ", 3)[3]) for line in lines]
    assert [(e["action"], e["target"], e["role"], e["result"]) for e in entries] == [
        ("user.add", "newclerk", "operator", "ok"), ("user.disable", "newclerk", "operator", "ok")]
    assert entries[0]["actor"].startswith("cli:")
    password = added.stdout.rsplit(": ", 1)[-1].strip()
    assert password not in "\n".join(lines)
    assert verify(redis_url).returncode == 0
