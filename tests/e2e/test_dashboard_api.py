"""The dashboard's JSON and pages: live state and alerts, today's curves, the city view, access."""

from __future__ import annotations

from displays.dashboard_views import CityPage, DashboardLive, DashboardToday
from hall.auth import Role
from tests.e2e.test_reports_api import HALL, NINE, Day


def test_live_state_and_alerts(client, accounts, clock):
    manager = accounts.user("mgr", Role.MANAGER)
    kiosk = accounts.device(Role.KIOSK)
    s01 = accounts.clerk("S01")
    clock.now = NINE
    assert client.post(f"{HALL}/windows/1/login", headers=s01).status_code == 200
    client.post(f"{HALL}/tickets", json={"matter": "QY-KB"}, headers=kiosk)
    live = client.get(f"{HALL}/dashboard", headers=manager).json()
    queue_a = next(q for q in live["queues"] if q["letter"] == "A")
    assert queue_a["waiting"] == 1
    kinds = {a["kind"]: a for a in live["alerts"]}
    # window 1 is open and idle while queue A has someone waiting: an alert now
    assert kinds["idle_window"]["window"] == 1 and kinds["idle_window"]["since"] <= clock.now
    # the wait passes the district's 15-minute target at a known moment, announced ahead
    assert kinds["wait_over_target"]["since"] == NINE + 15 * 60
    client.post(f"{HALL}/windows/1/call-next", headers=s01)
    client.post(f"{HALL}/windows/1/start", headers=s01)
    live = client.get(f"{HALL}/dashboard", headers=manager).json()
    DashboardLive.model_validate(live)  # its declared body (strict), with a ticket served
    w1 = next(w for w in live["windows"] if w["number"] == 1)
    assert (w1["current_number"], w1["clerk_name"], w1["status"]) == ("A001", "张敏", "open")
    long = next(a for a in live["alerts"] if a["kind"] == "long_service")
    assert long["since"] == NINE + 2 * 15 * 60 and long["number"] == "A001"  # 2 × 15 min
    assert not any(a["kind"] == "idle_window" for a in live["alerts"])


def test_bad_rating_alert_and_case_counts(client, accounts, clock):
    Day(client, accounts, clock).build()
    manager = accounts.user("mgr", Role.MANAGER)
    live = client.get(f"{HALL}/dashboard", headers=manager).json()
    DashboardLive.model_validate(live)  # with an alert and a case
    bad = [a for a in live["alerts"] if a["kind"] == "bad_rating"]
    assert [(a["number"], a["level"], a["window"]) for a in bad] == [("B001", "dissatisfied", 6)]
    assert (live["cases"]["open"], live["cases"]["overdue"]) == (1, 0)
    assert live["cases"]["items"][0]["comment"] == "等太久"


def test_today_curves_match_the_known_day(client, accounts, clock):
    Day(client, accounts, clock).build()
    manager = accounts.user("mgr", Role.MANAGER)
    today = client.get(f"{HALL}/dashboard/today", headers=manager).json()
    DashboardToday.model_validate(today)  # its declared body (strict)
    assert today["day"] == "20261118"
    assert today["quarters"]["arrivals"][36] == 6  # all six between 09:00 and 09:15
    # B001 done 09:11:40, A001 09:16:00, A003 09:30:00
    assert today["quarters"]["served"][36:39] == [1, 1, 1]
    # at 09:15 A002, A003, A004, A005 waited (A001 and B001 had been called)
    assert today["waiting"][36] == 4
    assert today["waiting"][37] == 2  # 09:30: A004 (cancelled 09:31:40) and A005
    assert today["waiting"][38] == 1  # 09:45: A005, who never got called
    # waits 280 s, 300 s, 920 s, 940 s in 5-minute buckets
    assert today["wait_histogram"]["counts"][:5] == [1, 1, 0, 2, 0]
    assert today["windows"]["6"]["served"] == 2
    assert today["rates"]["bad"] == 1


def test_city_view_lists_the_managers_halls(client, accounts, clock):
    kiosk = accounts.device(Role.KIOSK)
    client.post(f"{HALL}/tickets", json={"matter": "QY-KB"}, headers=kiosk)
    manager = accounts.user("mgr", Role.MANAGER)
    page = client.get("/api/city", headers=manager).json()
    CityPage.model_validate(page)  # its declared body (strict)
    halls = page["halls"]
    assert [h["id"] for h in halls] == ["district"]
    assert (halls[0]["waiting"], halls[0]["issued_today"]) == (1, 1)
    admin = accounts.user("root", Role.ADMIN)
    assert {h["id"] for h in client.get("/api/city", headers=admin).json()["halls"]} == {
        "district", "town", "village"}


def test_dashboard_access(client, accounts):
    s01 = accounts.clerk("S01")
    town = accounts.user("tmgr", Role.MANAGER, hall="town")
    pad = accounts.device(Role.PAD, window=1)
    for url in (f"{HALL}/dashboard", f"{HALL}/dashboard/today", "/api/city"):
        for who in (s01, pad):
            assert client.get(url, headers=who).status_code == 403, url
    assert client.get(f"{HALL}/dashboard", headers=town).status_code == 403
    assert client.get(f"{HALL}/dashboard/today", headers=town).status_code == 403
    assert client.get("/api/halls/nohall/dashboard", headers=town).status_code == 404
    client.cookies.clear()
    for url in (f"{HALL}/dashboard", f"{HALL}/dashboard/today", "/api/city"):
        assert client.get(url).status_code == 401
    page = client.get("/h/district/dashboard")
    assert page.status_code == 401 and "login-form" in page.text
    assert client.get("/city").status_code == 401
    assert client.get("/h/district/dashboard", headers=s01).status_code == 403
    assert client.get("/h/district/dashboard", headers=town).status_code == 403
    assert client.get("/h/nohall/dashboard").status_code == 404
    manager = accounts.user("mgr", Role.MANAGER)
    client.cookies.clear()
    page = client.get("/h/district/dashboard", headers=manager)
    assert page.status_code == 200 and "/static/dashboard.js" in page.text
    assert client.get("/city", headers=manager).status_code == 200
    english = client.get("/h/district/dashboard?lang=en", headers=manager)
    assert "Manager&#39;s dashboard" in english.text or "Manager's dashboard" in english.text
