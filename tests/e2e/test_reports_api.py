"""Reports over HTTP, checked against a day built from known tickets under a FakeClock."""

from __future__ import annotations

import csv
import io
import time

import pytest

from hall.auth import Role
from hall.services import services
from ticketing.report_views import OwnFigures, Report, RollupQueued
from ticketing.store import STORE

HALL = "/api/halls/district"
NINE = 1_794_963_600.0  # 2026-11-18 09:00 Asia/Shanghai (a Wednesday)


class Day:
    """Drive the district hall through a known day; every step at a known second after 09:00."""

    def __init__(self, client, accounts, clock) -> None:
        self.c, self.clock = client, clock
        self.kiosk = accounts.device(Role.KIOSK)
        self.s01 = accounts.clerk("S01")
        self.s06 = accounts.clerk("S06")
        self.ids: dict[str, str] = {}

    def at(self, second: float) -> None:
        self.clock.now = NINE + second

    def issue(self, second: float, matter: str) -> str:
        self.at(second)
        r = self.c.post(f"{HALL}/tickets", json={"matter": matter}, headers=self.kiosk)
        assert r.status_code == 201, r.text
        self.ids[r.json()["number"]] = r.json()["id"]
        return r.json()["number"]

    def act(self, second: float, clerk, window: int, action: str, body=None) -> dict:
        self.at(second)
        r = self.c.post(f"{HALL}/windows/{window}/{action}", json=body, headers=clerk)
        assert r.status_code == 200, (action, r.text)
        return r.json()

    def build(self) -> None:
        for second, matter in ((0, "QY-KB"), (60, "QY-BG"), (120, "SB-CB"), (180, "QY-KB"),
                               (240, "MZ-HY"), (300, "QY-KB")):
            self.issue(second, matter)
        assert list(self.ids) == ["A001", "A002", "B001", "A003", "A004", "A005"]
        self.act(0, self.s01, 1, "login")
        self.act(0, self.s06, 6, "login")
        assert self.act(300, self.s01, 1, "call-next")["ticket"]["number"] == "A001"
        self.act(360, self.s01, 1, "start")
        assert self.act(400, self.s06, 6, "call-next")["ticket"]["number"] == "B001"
        self.act(400, self.s06, 6, "start")
        self.act(700, self.s06, 6, "finish")
        self.at(800)
        r = self.c.post(f"{HALL}/tickets/{self.ids['B001']}/rating",
                        json={"level": "dissatisfied", "comment": "等太久"})
        assert r.status_code == 201
        self.act(960, self.s01, 1, "finish")
        self.at(1000)
        assert self.c.post(f"{HALL}/tickets/{self.ids['A001']}/rating",
                           json={"level": "very_satisfied"}).status_code == 201
        assert self.act(1000, self.s01, 1, "call-next")["ticket"]["number"] == "A002"
        self.act(1000, self.s01, 1, "no-show")
        assert self.act(1100, self.s01, 1, "call-next")["ticket"]["number"] == "A003"
        self.act(1100, self.s01, 1, "start")
        self.act(1400, self.s01, 1, "transfer", {"queue": "B", "note": "社保部分"})
        assert self.act(1500, self.s06, 6, "call-next")["ticket"]["number"] == "A003"
        self.act(1500, self.s06, 6, "start")
        self.act(1800, self.s06, 6, "finish")
        self.at(1900)
        assert self.c.post(f"{HALL}/tickets/{self.ids['A004']}/cancel").status_code == 200
        self.at(2000)


@pytest.fixture
def day(client, accounts, clock) -> Day:
    d = Day(client, accounts, clock)
    d.build()
    return d


def counts(fig: dict) -> tuple:
    return (fig["issued"], fig["served"], fig["no_show"], fig["transferred"], fig["cancelled"],
            fig["abandoned"])


def check_known_day(report: dict, over: bool = False) -> None:
    """The known day's figures; ``over``: seen once the day has ended (A002, missed and never
    back, and A005, still waiting, then count as abandoned; while the day runs only the
    cancelled A004 does)."""
    left = 2 if over else 0  # unserved tickets the end of the day makes abandoned
    total = report["total"]
    assert counts(total) == (6, 3, 1, 1, 1, 1 + left)
    assert (total["wait_mean_s"], total["wait_p90_s"]) == (610.0, 940.0)
    assert (total["service_mean_s"], total["service_p90_s"]) == (400.0, 600.0)
    assert total["ratings"] == {"very_satisfied": 1, "satisfied": 0, "basically_satisfied": 0,
                                "dissatisfied": 1, "very_dissatisfied": 0}
    assert (total["rated"], total["unrated"], total["rating_rate"]) == (2, 1, 0.6667)
    by = report["by"]
    assert counts(by["queue"]["A"]) == (5, 2, 1, 1, 1, 1 + left)
    assert (by["queue"]["A"]["wait_mean_s"], by["queue"]["A"]["wait_p90_s"]) == (720.0, 940.0)
    assert (by["queue"]["A"]["service_mean_s"], by["queue"]["A"]["service_p90_s"]) == (450.0, 600.0)
    assert counts(by["queue"]["B"]) == (1, 1, 0, 0, 0, 0)
    assert by["queue"]["B"]["wait_mean_s"] == 280.0
    assert counts(by["matter"]["QY-KB"]) == (3, 2, 0, 1, 0, left // 2)
    assert (by["matter"]["QY-KB"]["wait_mean_s"], by["matter"]["QY-KB"]["wait_p90_s"]) == (610.0,
                                                                                          920.0)
    assert counts(by["matter"]["QY-BG"]) == (1, 0, 1, 0, 0, left // 2)
    assert counts(by["matter"]["MZ-HY"]) == (1, 0, 0, 0, 1, 1)
    w1, w6 = by["window"]["1"], by["window"]["6"]
    assert (w1["served"], w1["no_show"], w1["transferred"]) == (1, 1, 1)
    assert (w1["wait_mean_s"], w1["service_mean_s"]) == (720.0, 600.0)
    assert w1["ratings"]["very_satisfied"] == 1
    assert (w6["served"], w6["no_show"], w6["transferred"]) == (2, 0, 0)
    assert (w6["wait_mean_s"], w6["service_mean_s"], w6["service_p90_s"]) == (280.0, 300.0, 300.0)
    assert (w6["ratings"]["dissatisfied"], w6["unrated"]) == (1, 1)
    assert by["clerk"]["S01"] == w1 and by["clerk"]["S06"] == w6
    assert report["peak_hours"] == [{"hour": 9, "arrivals": 6}]
    assert report["hours"]["arrivals"][9] == 6 and sum(report["hours"]["served"]) == 3


def test_live_report_of_the_known_day(client, accounts, day):
    manager = accounts.user("mgr", Role.MANAGER)
    r = client.get(f"{HALL}/reports?from=2026-11-18&to=2026-11-18", headers=manager)
    assert r.status_code == 200, r.text
    report = r.json()
    Report.model_validate(report)  # its declared body (strict)
    check_known_day(report)
    assert report["rates"]["bad"] == 1 and report["rates"]["served"] == 3
    assert report["daily"] == [{"day": "20261118", "issued": 6, "served": 3}]


def test_rolled_up_day_gives_the_same_figures_and_records_expire(client, accounts, day,
                                                                 redis_url):
    import redis

    from ticketing.report_store import ReportStore

    manager = accounts.user("mgr", Role.MANAGER)
    live = client.get(f"{HALL}/reports?from=2026-11-18&to=2026-11-18", headers=manager).json()
    app = client.app
    client.portal.call(lambda: ReportStore(services(app).redis, services(app).get(STORE)).rollup(
        "district", "20261118"))
    sync = redis.Redis.from_url(redis_url)
    assert sync.exists("hall:{district}:agg:20261118")
    # ticket records are kept 180 days after the end of their day (the district's setting)
    end_of_day = NINE + 15 * 3600
    for key in (f"hall:{{district}}:t:{day.ids['A001']}",
                f"hall:{{district}}:rating:{day.ids['A001']}"):
        expires = time.time() + sync.ttl(key)  # this Redis has no EXPIRETIME
        assert abs(expires - (end_of_day + 180 * 86400)) <= 2
    # the next day, the aggregate alone must give the same report, even once the records
    # are gone (today's figures always come from the live records)
    day.clock.now = NINE + 86400
    for ticket_id in day.ids.values():
        sync.delete(f"hall:{{district}}:t:{ticket_id}")
    rolled = client.get(f"{HALL}/reports?from=2026-11-17&to=2026-11-19", headers=manager).json()
    check_known_day(rolled, over=True)
    Report.model_validate(rolled)  # from the aggregate, over days without any
    # the same figures as live, except those only the end of the day settles
    for name in ("issued", "served", "no_show", "transferred", "cancelled", "wait_mean_s",
                 "wait_p90_s", "service_mean_s", "ratings"):
        assert rolled["total"][name] == live["total"][name], name
    assert rolled["by"]["window"] == live["by"]["window"]


def test_csv_download(client, accounts, day):
    manager = accounts.user("mgr", Role.MANAGER)
    r = client.get(f"{HALL}/reports?from=2026-11-18&to=2026-11-18&format=csv", headers=manager)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    hall_row = rows[0]
    assert hall_row["dimension"] == "hall"
    assert (hall_row["issued"], hall_row["served"], hall_row["wait_mean_s"],
            hall_row["wait_p90_s"]) == ("6", "3", "610.0", "940.0")
    clerk = next(x for x in rows if x["dimension"] == "clerk" and x["key"] == "S01")
    assert clerk["name"] == "张敏 (QZ0101)" and clerk["no_show"] == "1"
    matter = next(x for x in rows if x["dimension"] == "matter" and x["key"] == "QY-BG")
    assert matter["no_show"] == "1" and matter["wait_mean_s"] == "940.0"


def test_unrated_counts_as_basically_satisfied_when_the_hall_says_so(client, accounts, day):
    import dataclasses

    cfg = services(client.app).halls["district"]
    services(client.app).halls["district"] = dataclasses.replace(
        cfg, rules=dataclasses.replace(cfg.rules, unrated_counts_as="basically_satisfied"))
    try:
        manager = accounts.user("mgr", Role.MANAGER)
        url = f"{HALL}/reports?from=2026-11-18&to=2026-11-18"
        within = client.get(url, headers=manager).json()["total"]
        assert (within["unrated"], within["defaulted"]) == (1, 0)  # period not over yet
        day.clock.advance(24 * 3600)
        after = client.get(url, headers=manager).json()["total"]
        assert (after["unrated"], after["defaulted"]) == (0, 1)
        assert after["ratings"]["basically_satisfied"] == 1
        assert after["rated"] == 2  # a default is not an active rating
    finally:
        services(client.app).halls["district"] = cfg


def test_clerk_sees_only_their_own_figures(client, accounts, day):
    r = client.get(f"{HALL}/reports?from=2026-11-18&to=2026-11-18", headers=day.s06)
    assert r.status_code == 200
    data = r.json()
    OwnFigures.model_validate(data)  # its declared body (strict)
    assert set(data) == {"hall", "from", "to", "clerk", "figures"}
    assert data["clerk"] == "S06" and data["figures"]["served"] == 2
    assert client.get(f"{HALL}/reports?format=csv", headers=day.s06).status_code == 422


def test_report_access_and_bad_input(client, accounts, day):
    manager = accounts.user("mgr", Role.MANAGER)
    town_manager = accounts.user("tmgr", Role.MANAGER, hall="town")
    pad = accounts.device(Role.PAD, window=1)
    assert client.get(f"{HALL}/reports", headers=town_manager).status_code == 403
    assert client.get(f"{HALL}/reports", headers=pad).status_code == 403
    assert client.get(f"{HALL}/reports", headers=day.kiosk).status_code == 403
    for query, code in (("from=2026-13-01", "invalid_date"), ("from=x", "invalid_date"),
                        ("from=2026-11-18&to=2026-11-01", "invalid_date"),
                        ("from=2024-01-01&to=2026-11-18", "range_too_long"),
                        ("format=xml", "invalid_field")):
        r = client.get(f"{HALL}/reports?{query}", headers=manager)
        assert r.status_code == 422, query
        assert r.json()["error"]["code"] == code
    assert client.get("/api/halls/nohall/reports", headers=manager).status_code == 404
    assert client.post(f"{HALL}/reports/rollup", json={"day": "2026-11-18"},
                       headers=day.s01).status_code == 403
    assert client.post(f"{HALL}/reports/rollup", json={"day": "18/11"},
                       headers=manager).status_code == 422
    queued = client.post(f"{HALL}/reports/rollup", json={"day": "2026-11-18"}, headers=manager)
    assert queued.status_code == 202, queued.text
    RollupQueued.model_validate(queued.json())  # its declared body (strict)
    assert (queued.json()["hall"], queued.json()["day"]) == ("district", "20261118")
    client.cookies.clear()
    assert client.get(f"{HALL}/reports").status_code == 401
    assert client.post(f"{HALL}/reports/rollup", json={"day": "2026-11-18"}).status_code == 401
