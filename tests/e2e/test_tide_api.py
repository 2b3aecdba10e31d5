"""The tide manager API over HTTP, and one controller leading across two app processes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyotp
import redis
from redis.asyncio import Redis
from starlette.testclient import TestClient

from hall.auth import AuthStore, Role
from tests.conftest import Accounts
from tests.support import ROOT, AppProcess
from ticketing.keys import HallKeys
from tide.keys import TideKeys
from tide.views import Confirmed, ModeSet, Overridden, PlanAnswer, Released, TideState

BASE = "/api/halls/district/tide"


def stream(url: str, kind: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    out = []
    for _, fields in client.xrange(HallKeys("district").events):
        if fields[b"type"].decode() == kind:
            out.append(json.loads(fields[b"data"]))
    return out


def test_only_managers_of_the_hall_see_and_steer_the_tide(
    client: TestClient, accounts: Accounts
) -> None:
    assert client.get(BASE).json()["error"]["code"] == "unauthorized"
    clerk = accounts.clerk("S06")
    assert client.get(BASE, headers=clerk).status_code == 403
    other = accounts.user("town-manager", Role.MANAGER, hall="town")
    assert client.get(BASE, headers=other).status_code == 403
    manager = accounts.user("district-manager", Role.MANAGER)
    state = client.get(BASE, headers=manager).json()
    TideState.model_validate(state)  # its declared body (strict)
    assert state["mode"] == "advise" and state["policy"] == "predictive"
    assert {w["number"] for w in state["windows"]} == {11, 12}  # lendable and tide windows
    assert {q["queue"] for q in state["queues"]} >= {"A", "B"}
    assert client.get("/api/halls/nowhere/tide", headers=manager).status_code == 404


def test_bad_requests_get_stable_codes_and_change_nothing(
    client: TestClient, accounts: Accounts, redis_url: str
) -> None:
    manager = accounts.user("district-manager", Role.MANAGER)
    before = redis.Redis.from_url(redis_url).xlen(HallKeys("district").events)
    cases = [
        ("put", f"{BASE}/mode", {"mode": "sometimes"}, 422, "invalid_field"),
        ("put", f"{BASE}/mode", {}, 422, "invalid_field"),
        ("post", f"{BASE}/override", {"window": 99, "action": "open"}, 404, "unknown_window"),
        ("post", f"{BASE}/override", {"window": 12, "action": "explode"}, 422,
         "invalid_field"),
        ("post", f"{BASE}/override", {"window": "12", "action": "open"}, 422, "invalid_field"),
        ("post", f"{BASE}/override", {"window": 11, "action": "lend"}, 422, "invalid_field"),
        ("post", f"{BASE}/override", {"window": 11, "action": "lend", "queues": "Z"}, 422,
         "unknown_queue"),
        ("post", f"{BASE}/override", {"window": 12, "action": "open", "clerk": "nobody"}, 422,
         "unknown_staff"),
        ("post", f"{BASE}/override", {"window": 12, "action": "close"}, 409,
         "illegal_transition"),
        ("post", f"{BASE}/release", {"window": 12}, 404, "no_override"),
        ("post", f"{BASE}/confirm", {"id": "12:open"}, 404, "unknown_decision"),
    ]
    for method, url, body, status, code in cases:
        r = getattr(client, method)(url, json=body, headers=manager)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (url, body, r.text)
    r = client.post(f"{BASE}/override", content=b"{not json", headers=manager)
    assert r.status_code == 400
    assert redis.Redis.from_url(redis_url).xlen(HallKeys("district").events) == before


def test_manager_override_open_then_release(
    client: TestClient, accounts: Accounts, redis_url: str
) -> None:
    manager = accounts.user("district-manager", Role.MANAGER)
    r = client.post(f"{BASE}/override", json={"window": 12, "action": "open",
                                              "reason": "上午高峰"}, headers=manager)
    assert r.status_code == 200, r.text
    assert r.json()["window"]["status"] == "open" and r.json()["window"]["clerk"] == "S01"
    Overridden.model_validate(r.json())  # its declared body (strict)
    state = client.get(BASE, headers=manager).json()
    TideState.model_validate(state)  # with an override and a recent decision
    assert [o["window"] for o in state["overrides"]] == [12]
    # The dashboard reads action, window and reason at the top level of each entry.
    assert (state["recent"][0]["action"], state["recent"][0]["window"]) == ("open", 12)
    assert "上午高峰" in state["recent"][0]["reason"]
    assert client.get("/api/halls/district/windows/12").json()["status"] == "open"
    # One event, committed with the change: the override, its window and the board's text.
    [decided] = stream(redis_url, "tide.override")
    assert decided["kind"] == "set" and decided["window"]["status"] == "open"
    assert decided["message_zh"] == "12号潮汐窗口已开放"
    released = client.post(f"{BASE}/release", json={"window": 12}, headers=manager).json()
    assert released == {"released": 12}
    Released.model_validate(released)
    assert [e["kind"] for e in stream(redis_url, "tide.override")] == ["set", "released"]
    mode = client.put(f"{BASE}/mode", json={"mode": "auto"}, headers=manager).json()
    assert mode == {"mode": "auto"}
    ModeSet.model_validate(mode)
    assert client.get(BASE, headers=manager).json()["mode"] == "auto"


def test_two_app_processes_one_controller_decides(redis_url: str, tmp_path: Path) -> None:
    """Both processes run the controller loop; only the leader applies a decision, and when
    the leader's process dies the other one takes over once the lock expires."""
    env = {"HALL_FILES": str(_always_open_district(tmp_path))}
    procs = [AppProcess(redis_url, log_path=tmp_path / f"{n}.log", extra_env=env).start()
             for n in "ab"]
    try:
        kiosk = {"Authorization": f"Bearer {_token(redis_url, None)}"}
        manager = {"Authorization": f"Bearer {_token(redis_url, 'tide-boss')}"}
        assert httpx.put(f"{procs[0].base_url}{BASE}/mode", json={"mode": "auto"},
                         headers=manager).status_code == 200
        for i in range(20):
            resp = httpx.post(f"{procs[0].base_url}/api/halls/district/tickets",
                              json={"matter": "QY-KB" if i % 2 else "SB-CB"}, headers=kiosk)
            assert resp.status_code == 201, resp.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _applied(redis_url):
            time.sleep(0.5)
        _leader_rounds(redis_url, 2)  # the leader ran the policy twice more: no second open
        assert [(d["decision"]["action"], d["decision"]["window"])
                for d in _applied(redis_url)] == [("open", 12)]
        states = [httpx.get(f"{p.base_url}{BASE}", headers=manager).json() for p in procs]
        tokens = [s["controller"] for s in states]
        leader = states[0]["leader"]
        assert leader in tokens and states[1]["leader"] == leader and len(set(tokens)) == 2
        dead = tokens.index(leader)
        procs[dead].stop(kill=True)
        survivor = procs[1 - dead]
        deadline = time.monotonic() + 30  # lock 6 s + one 2 s round, with room to spare
        while time.monotonic() < deadline:
            now = httpx.get(f"{survivor.base_url}{BASE}", headers=manager).json()["leader"]
            if now == tokens[1 - dead]:
                break
            time.sleep(0.5)
        assert now == tokens[1 - dead]
    finally:
        for p in procs:
            p.stop(kill=True)


def _always_open_district(folder: Path) -> Path:
    """The district hall, open every day 00:00-23:59 in a time zone where it is about noon
    now (the app processes run on the real clock; the tide acts only in opening hours)."""
    offset = max(-12, min(14, 12 - datetime.now(UTC).hour))
    text = (ROOT / "hall" / "halls" / "district.toml").read_text(encoding="utf-8")
    text = text.replace('timezone = "Asia/Shanghai"',
                        f'timezone = "Etc/GMT{-offset:+d}"', 1)
    text = text.replace("weekdays = [1, 2, 3, 4, 5, 6]", "weekdays = [1, 2, 3, 4, 5, 6, 7]", 1)
    text = text.replace('periods = ["09:00-12:00", "13:30-17:30"]', 'periods = ["00:00-23:59"]',
                        1)
    # a round every 2 s (lead renewed at each): the test sees rounds instead of sleeping
    text = text.replace("interval_seconds = 30", "interval_seconds = 2", 1)
    path = folder / "district.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _leader_rounds(redis_url: str, rounds: int, timeout: float = 30.0) -> None:
    """Wait until the leading controller renewed its lock ``rounds`` times: each renewal is
    one of its steps, and with ``interval_seconds = 2`` every step runs the policy."""
    client = redis.Redis.from_url(redis_url)
    key = TideKeys("district").leader
    seen, last = 0, client.pttl(key)
    deadline = time.monotonic() + timeout
    while seen < rounds:
        assert time.monotonic() < deadline, f"only {seen} leader rounds in {timeout:.0f} s"
        time.sleep(0.05)
        now = client.pttl(key)
        seen += now > last
        last = now


def _applied(redis_url: str) -> list[dict[str, Any]]:
    return [d for d in stream(redis_url, "tide.decision") if d["status"] == "applied"]


def _token(redis_url: str, manager: str | None) -> str:
    """A kiosk device token, or a logged-in manager's session token."""

    async def make() -> str:
        client = Redis.from_url(redis_url)
        try:
            auth = AuthStore(client)
            if manager is None:
                return await auth.add_device(Role.KIOSK, "district", "kiosk-tide")
            await auth.add_user(manager, "correct horse battery", Role.MANAGER, ("district",))
            secret = pyotp.random_base32()
            await auth.set_totp(manager, secret)
            token, _ = await auth.login(manager, "correct horse battery",
                                        pyotp.TOTP(secret).now())
            return token
        finally:
            await client.aclose()

    return asyncio.run(make())


def test_the_saved_staffing_plan_is_on_the_managers_api(
    client: TestClient, accounts: Accounts, redis_url: str, halls: dict[str, Any]
) -> None:
    import time as clock

    from ticketing.store import TicketStore
    from tide.service import TideService

    manager = accounts.user("district-manager", Role.MANAGER)
    assert client.get(f"{BASE}/plan", headers=manager).json() == {"plan": None}
    assert client.get(f"{BASE}/plan", headers=accounts.clerk("S06")).status_code == 403
    from tide.plan import Outcome, Plan, PlanSlot

    made = Plan("district", 15.0, (PlanSlot(9.0, (1, 2, 12), ("S02", "S03", "S01"), 20.0),),
                (3,), Outcome(12.0, 5.0, 70.0, 0.93), Outcome(14.0, 6.0, 81.0, 0.8))
    # what `hall plan --save` keeps (tide/cli.py)
    plan = {"day": "2026-12-01", "forecast": "the hall's records", **made.to_dict()}

    async def save() -> None:
        r = Redis.from_url(redis_url)
        service = TideService.for_halls(r, TicketStore(r, halls, clock.time))
        await service.save_plan("district", plan, by="hall plan")
        await r.aclose()

    asyncio.run(save())
    answer = client.get(f"{BASE}/plan", headers=manager).json()
    PlanAnswer.model_validate(answer)  # its declared body (strict)
    got = answer["plan"]
    assert got["day"] == "2026-12-01" and got["slots"][0]["windows"] == [1, 2, 12]
    assert got["by"] == "hall plan"
    [event] = stream(redis_url, "tide.plan")
    assert event["day"] == "2026-12-01" and event["planned"]["hit_rate"] == 0.93


def test_a_proposal_confirmed_or_dismissed_answers_its_declared_body(
    client: TestClient, accounts: Accounts, redis_url: str, halls: dict[str, Any]
) -> None:
    import time as clock

    from ticketing.store import TicketStore
    from tide.policy import Action, Decision
    from tide.service import TideService

    manager = accounts.user("district-manager", Role.MANAGER)

    async def propose(d: Decision) -> str:
        r = Redis.from_url(redis_url)
        service = TideService.for_halls(r, TicketStore(r, halls, clock.time))
        pid = await service.propose("district", d)
        await r.aclose()
        return pid

    pid = asyncio.run(propose(Decision(Action.OPEN, 12, ("A",), "S01", "开", "open")))
    state = client.get(BASE, headers=manager).json()
    TideState.model_validate(state)  # with a pending proposal
    assert [p["id"] for p in state["pending"]] == [pid]
    r = client.post(f"{BASE}/confirm", json={"id": pid, "accept": False}, headers=manager)
    assert r.status_code == 200, r.text
    Confirmed.model_validate(r.json())  # its declared body (strict)
    assert r.json()["status"] == "dismissed" and r.json()["decision"]["window"] == 12
