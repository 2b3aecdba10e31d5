"""The rectification loop of a bad rating: judged, rectified, replied, closed; overdue on time."""

from __future__ import annotations

from hall.auth import Role
from tests.e2e.test_ratings_api import HALL, serve_one
from ticketing.rating_routes import CaseList, CaseView

WED_0900 = 1_794_963_600.0  # 2026-11-18 09:00 Asia/Shanghai
DAY = 86400


def bad_case(client, accounts, clock, level="very_dissatisfied"):
    clock.now = WED_0900
    ticket_id, _, clerk = serve_one(client, accounts)
    r = client.post(f"{HALL}/tickets/{ticket_id}/rating", json={"level": level, "comment": "差"})
    assert r.status_code == 201 and r.json()["case_opened"] is True
    return ticket_id, clerk


def test_case_is_overdue_after_five_working_days(client, accounts, clock):
    ticket_id, _ = bad_case(client, accounts, clock)
    manager = accounts.user("mgr", Role.MANAGER)
    case = client.get(f"{HALL}/cases", headers=manager).json()["cases"][0]
    # Wed 18th + 5 working days (Thu, Fri, Mon, Tue, Wed) = end of Wed 25th, local time
    assert case["deadline"] == WED_0900 + 7 * DAY + 15 * 3600
    clock.now = case["deadline"] - 60
    assert client.get(f"{HALL}/cases?status=open", headers=manager).json()["cases"][0][
        "ticket"] == ticket_id
    clock.now = case["deadline"] + 60
    listed = client.get(f"{HALL}/cases", headers=manager).json()
    CaseList.model_validate(listed)  # its declared body (strict)
    assert listed["counts"] == {"open": 0, "overdue": 1, "closed": 0}
    assert listed["cases"][0]["status"] == "overdue"
    assert client.get(f"{HALL}/cases?status=open", headers=manager).json()["cases"] == []


def test_loop_closes_when_judged_rectified_and_replied(client, accounts, clock):
    ticket_id, _ = bad_case(client, accounts, clock)
    manager = accounts.user("mgr", Role.MANAGER)
    url = f"{HALL}/cases/{ticket_id}"
    r = client.post(url, json={"reasonable": True}, headers=manager)
    assert r.status_code == 200 and r.json()["status"] == "open"
    r = client.post(url, json={"rectification": "补充一次性告知清单"}, headers=manager)
    assert r.json()["status"] == "open"
    clock.advance(3600)
    r = client.post(url, json={"reply": "已电话回复群众并致歉"}, headers=manager)
    assert r.status_code == 200
    case = r.json()
    CaseView.model_validate(case)  # its declared body (strict)
    assert case["status"] == "closed" and case["closed_at"] == clock.now
    assert case["handled_by"] == "mgr"
    assert client.post(url, json={"reply": "again"}, headers=manager).json()["error"][
        "code"] == "case_closed"
    clock.advance(30 * DAY)  # a closed case never turns overdue
    assert client.get(f"{HALL}/cases", headers=manager).json()["counts"]["closed"] == 1
    report = client.get(f"{HALL}/reports?from=2026-11-18&to=2026-11-18", headers=manager).json()
    assert report["rates"] == {"served": 1, "rated": 1, "bad": 1, "reasonable_bad": 1,
                               "rectified": 1, "replied": 1, "rating_rate": 1.0,
                               "rectification_rate": 1.0, "reply_rate": 1.0}


def test_unreasonable_case_needs_only_a_reply(client, accounts, clock):
    ticket_id, _ = bad_case(client, accounts, clock, level="dissatisfied")
    manager = accounts.user("mgr", Role.MANAGER)
    url = f"{HALL}/cases/{ticket_id}"
    r = client.post(url, json={"reasonable": False, "rectification": "x"}, headers=manager)
    assert r.status_code == 422 and r.json()["error"]["code"] == "rectification_not_needed"
    r = client.post(url, json={"reasonable": False, "reply": "已解释政策"}, headers=manager)
    assert r.json()["status"] == "closed"
    report = client.get(f"{HALL}/reports?from=2026-11-18", headers=manager).json()
    assert (report["rates"]["reasonable_bad"], report["rates"]["rectification_rate"],
            report["rates"]["reply_rate"]) == (0, None, 1.0)


def test_case_access(client, accounts, clock):
    ticket_id, s01 = bad_case(client, accounts, clock)
    url = f"{HALL}/cases/{ticket_id}"
    # a clerk sees only cases about their own service, and cannot handle them
    assert len(client.get(f"{HALL}/cases", headers=s01).json()["cases"]) == 1
    s02 = accounts.clerk("S02")
    assert client.get(f"{HALL}/cases", headers=s02).json()["cases"] == []
    assert client.post(url, json={"reasonable": True}, headers=s01).status_code == 403
    town = accounts.user("tmgr", Role.MANAGER, hall="town")
    assert client.get(f"{HALL}/cases", headers=town).status_code == 403
    assert client.post(url, json={"reasonable": True}, headers=town).status_code == 403
    pad = accounts.device(Role.PAD, window=1)
    assert client.get(f"{HALL}/cases", headers=pad).status_code == 403
    manager = accounts.user("mgr", Role.MANAGER)
    assert client.post(url, json={}, headers=manager).status_code == 422
    assert client.post(url, json={"reasonable": "yes"}, headers=manager).status_code == 422
    assert client.post(f"{HALL}/cases/nosuch", json={"reasonable": True},
                       headers=manager).status_code == 404
    assert client.get(f"{HALL}/cases?status=weird", headers=manager).status_code == 422
    client.cookies.clear()
    assert client.get(f"{HALL}/cases").status_code == 401
    assert client.post(url, json={"reasonable": True}).status_code == 401


def test_a_bad_rating_names_the_serving_clerk_and_the_first_clerk(client, accounts, clock):
    """首问负责: S01 takes the ticket and transfers it; S06 serves it; the citizen rates it
    badly. The case names both, and both clerks find it among their own cases."""
    clock.now = WED_0900
    kiosk, s01, s06 = (accounts.device(Role.KIOSK), accounts.clerk("S01"),
                       accounts.clerk("S06"))
    ticket = client.post(f"{HALL}/tickets", json={"matter": "QY-KB"}, headers=kiosk).json()
    for clerk, window in ((s01, 1), (s06, 6)):
        assert client.post(f"{HALL}/windows/{window}/login", headers=clerk).status_code == 200
    for action, body in (("call-next", None), ("start", None),
                         ("transfer", {"window": 6, "note": "社保部分"})):
        assert client.post(f"{HALL}/windows/1/{action}", json=body,
                           headers=s01).status_code == 200
    for action in ("call-next", "start", "finish"):
        assert client.post(f"{HALL}/windows/6/{action}", headers=s06).status_code == 200
    r = client.post(f"{HALL}/tickets/{ticket['id']}/rating", json={"level": "dissatisfied"})
    assert r.status_code == 201 and r.json()["case_opened"] is True
    manager = accounts.user("mgr", Role.MANAGER)
    case = client.get(f"{HALL}/cases", headers=manager).json()["cases"][0]
    assert (case["rating"]["clerk"], case["rating"]["first_clerk"]) == ("S06", "S01")
    assert (case["rating"]["window"], case["rating"]["first_window"]) == (6, 1)
    assert case["clerk_name"] and case["first_clerk_name"]
    assert case["clerk_name"] != case["first_clerk_name"]
    for clerk in (s01, s06):
        mine = client.get(f"{HALL}/cases", headers=clerk).json()["cases"]
        assert [c["ticket"] for c in mine] == [ticket["id"]]
    dashboard = client.get(f"{HALL}/dashboard", headers=manager).json()
    item = dashboard["cases"]["items"][0]
    assert item["first_clerk_name"] == case["first_clerk_name"] and item["first_window"] == 1
