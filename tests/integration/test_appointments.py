"""Appointments through the app on a real Redis and a controllable clock: book, change,
cancel, check in near the slot, late arrival as walk-in, limits, no-show blocking, the
calendar's refusal of walk-ins outside opening hours; and no ID number in clear anywhere."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from starlette.testclient import TestClient

from hall import pow
from hall.app import create_app
from hall.auth import Role
from hall.config import HallConfig, load_hall
from hall.services import services
from hall.settings import Settings
from tests.conftest import Accounts
from tests.support import FakeClock
from ticketing import booking_views, notify, public
from ticketing.appointments import APPOINTMENTS

TZ = ZoneInfo("Asia/Shanghai")
ID_A = "11010519491231002X"
ID_B = "110105198001010016"
HALL = "/api/halls/town"


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).timestamp()


@pytest.fixture
def app_client(redis_url: str, halls: dict[str, HallConfig], clock: FakeClock,
               tmp_path: Path) -> Iterator[TestClient]:
    """The app as deployed: walk-ins refused outside opening hours."""
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=False, identity_secret="s3cret")
    with TestClient(create_app(settings, halls=halls, clock=clock),
                    headers={"Origin": "http://testserver"}) as test_client:  # as a browser
        yield test_client


def book(client: TestClient, day: str, slot: str, *, matter: str = "MZ-JZ",
         id_number: str | None = ID_A, phone: str | None = None, name: str = "张三"
         ) -> dict[str, object]:
    challenge = client.get(f"{HALL}/appointments/challenge").json()["challenge"]
    body = {"matter": matter, "day": day, "slot": slot, "name": name,
            "challenge": challenge, "solution": pow.solve(challenge)}
    if id_number:
        body["id_number"] = id_number
    if phone:
        body["phone"] = phone
    response = client.post(f"{HALL}/appointments", json=body)
    return {**response.json(), "http": response.status_code}


def test_walk_ins_refused_outside_hours_naming_the_next_opening(
        app_client: TestClient, clock: FakeClock) -> None:
    kiosk = Accounts(app_client).device(Role.KIOSK, "town")
    clock.now = at(2026, 11, 18, 3, 12)  # Wednesday, at night
    refused = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"}, headers=kiosk)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "hall_closed"
    assert "2026-11-18 08:30" in refused.json()["error"]["message"]
    clock.now = at(2026, 11, 18, 12, 30)  # lunch closure
    assert "14:00" in app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"},
                                      headers=kiosk).json()["error"]["message"]
    clock.now = at(2026, 10, 5, 10, 0)  # 国庆
    refused = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"}, headers=kiosk)
    assert "2026-10-08 08:30" in refused.json()["error"]["message"]
    clock.now = at(2026, 10, 10, 10, 0)  # Saturday, a 调休 working day
    taken = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"}, headers=kiosk)
    assert taken.status_code == 201
    # a ticket taken before closing is still called after it
    clock.now = at(2026, 10, 10, 17, 45)
    clerk = Accounts(app_client).clerk("T02", "town")
    assert app_client.post(f"{HALL}/windows/2/login", headers=clerk).status_code == 200
    called = app_client.post(f"{HALL}/windows/2/call-next", headers=clerk).json()
    assert called["ticket"]["number"] == taken.json()["number"]
    calendar = app_client.get(f"{HALL}/calendar").json()
    assert calendar["open_now"] is False and calendar["next_opening"].startswith("2026-10-12T08:30")


def test_book_check_in_and_be_called_near_the_slot(
        app_client: TestClient, clock: FakeClock) -> None:
    accounts = Accounts(app_client)
    kiosk = accounts.device(Role.KIOSK, "town")
    clock.now = at(2026, 11, 18, 16, 0)
    slots = app_client.get(f"{HALL}/appointments/slots?matter=MZ-JZ&day=2026-11-19").json()
    assert [s["slot"] for s in slots["slots"]][:3] == ["0830", "0900", "0930"]
    booked = book(app_client, "2026-11-19", "1000")
    assert booked["http"] == 201, booked
    assert booked["id_number"] == "110105********002X" and ID_A not in str(booked)
    # walk-ins before and after the booked time
    issued = {}
    for hh, mm in ((9, 0), (9, 20), (9, 40), (9, 55)):
        clock.now = at(2026, 11, 19, hh, mm)
        issued[(hh, mm)] = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"},
                                           headers=kiosk).json()["number"]
    clock.now = at(2026, 11, 19, 9, 29)
    early = app_client.post(f"{HALL}/checkin", json={"code": booked["code"]}, headers=kiosk)
    assert early.status_code == 409 and early.json()["error"]["code"] == "checkin_too_early"
    clock.now = at(2026, 11, 19, 9, 58)
    checked = app_client.post(f"{HALL}/checkin", json={"id_number": ID_A}, headers=kiosk)
    assert checked.status_code == 201, checked.text
    ticket = checked.json()["ticket"]
    assert ticket["appointment"] is True and checked.json()["late"] is False
    assert ticket["ahead"] == 4  # everyone who came before 10:00, nobody after
    clock.now = at(2026, 11, 19, 10, 2)
    after = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ"},
                            headers=kiosk).json()["number"]
    clerk = accounts.clerk("T02", "town")
    app_client.post(f"{HALL}/windows/2/login", headers=clerk)
    order = []
    for _ in range(6):
        called = app_client.post(f"{HALL}/windows/2/call-next", headers=clerk).json()["ticket"]
        order.append(called["number"])
        app_client.post(f"{HALL}/windows/2/start", headers=clerk)
        assert app_client.post(f"{HALL}/windows/2/finish", headers=clerk).status_code == 200
    assert order == [*issued.values(), ticket["number"], after]
    again = app_client.post(f"{HALL}/checkin", json={"code": booked["code"]}, headers=kiosk)
    assert again.json()["error"]["code"] == "booking_not_open"
    # managers see waits of booked vs walk-in citizens (reports, JSON and CSV)
    manager = accounts.user("boss", Role.MANAGER, "town")
    report = app_client.get(f"{HALL}/reports?from=2026-11-19&to=2026-11-19",
                            headers=manager).json()
    channel = report["by"]["channel"]
    assert channel["appointment"]["served"] == 1 and channel["walk_in"]["served"] == 5
    csv = app_client.get(f"{HALL}/reports?from=2026-11-19&to=2026-11-19&format=csv",
                         headers=manager).text
    assert "channel,appointment" in csv and "channel,walk_in" in csv
    app_client.cookies.clear()
    # the appointment mark comes only from check-in
    forged = app_client.post(f"{HALL}/tickets", json={"matter": "MZ-JZ", "appointment": True},
                             headers=kiosk)
    assert forged.json()["error"]["code"] == "checkin_required"


def test_a_year_without_holiday_file_is_booked_by_weekly_hours_and_marked_provisional(
        app_client: TestClient, clock: FakeClock) -> None:
    """No 2027 file bundled (its schedule is not published): booking reaches into 2027 by
    the weekly hours, the fixed-date holidays stay closed, and the days say provisional."""
    clock.now = at(2026, 12, 28, 10, 0)
    days = {d["day"]: d for d in app_client.get(f"{HALL}/calendar").json()["days"]}
    assert days["2026-12-31"]["provisional"] is False
    assert days["2027-01-04"]["provisional"] is True and days["2027-01-04"]["periods"]
    assert days["2027-01-01"]["holiday_zh"] and not days["2027-01-01"]["periods"]
    assert book(app_client, "2027-01-04", "1000")["http"] == 201
    new_year = app_client.get(f"{HALL}/appointments/slots",
                              params={"matter": "MZ-JZ", "day": "2027-01-01"}).json()
    assert new_year["slots"] == []
    manager = Accounts(app_client).user("m", Role.MANAGER, "town")
    figures = app_client.get(f"{HALL}/appointments/days/2027-01-04", headers=manager).json()
    assert figures["provisional"] is True and figures["total"]["booked"] == 1


def test_late_arrival_becomes_a_walk_in(app_client: TestClient, clock: FakeClock) -> None:
    kiosk = Accounts(app_client).device(Role.KIOSK, "town")
    clock.now = at(2026, 11, 18, 16, 0)
    booked = book(app_client, "2026-11-19", "1000", phone="13800138000", id_number=None)
    assert booked["http"] == 201 and booked["phone"] == "138****8000"
    clock.now = at(2026, 11, 19, 10, 16)
    late = app_client.post(f"{HALL}/checkin", json={"code": booked["code"].lower()},
                           headers=kiosk)
    assert late.status_code == 201, late.text
    assert late.json()["late"] is True and late.json()["ticket"]["appointment"] is False
    assert late.json()["booking"]["status"] == "late"


def test_change_cancel_limits_and_cut_off(app_client: TestClient, clock: FakeClock) -> None:
    clock.now = at(2026, 11, 18, 16, 0)
    first = book(app_client, "2026-11-19", "0900")
    assert first["http"] == 201
    second = book(app_client, "2026-11-20", "0900")  # one open booking per matter
    assert second["error"]["code"] == "booking_limit"  # type: ignore[index]
    moved = app_client.post(f"{HALL}/appointments/{first['id']}/change",
                            json={"day": "2026-11-20", "slot": "0930"}).json()
    assert moved["slot"] == "0930" and moved["code"] != first["code"]
    assert app_client.get(f"{HALL}/appointments/{first['id']}").json()["status"] == "changed"
    # other matters, same week: at most 3 bookings
    assert book(app_client, "2026-11-19", "0900", matter="JY-DJ")["http"] == 201
    assert book(app_client, "2026-11-19", "0900", matter="SB-CB")["http"] == 201
    fourth = book(app_client, "2026-11-19", "0900", matter="YB-CB")
    assert fourth["error"]["code"] == "booking_limit"  # type: ignore[index]
    # cancelling frees the place and the limit; not after the cut-off
    clock.now = at(2026, 11, 20, 8, 0)
    cancelled = app_client.post(f"{HALL}/appointments/{moved['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    clock.now = at(2026, 11, 19, 8, 10)
    slots = app_client.get(f"{HALL}/appointments/slots?matter=JY-DJ&day=2026-11-19").json()
    mine = next(s for s in slots["slots"] if s["slot"] == "0900")
    assert mine["booked"] == 1 and mine["open"] is False  # past its cut-off (60 min)


def test_repeated_no_shows_block_booking(app_client: TestClient, clock: FakeClock) -> None:
    store = services(app_client.app).get(APPOINTMENTS)  # type: ignore[arg-type]
    days = ["2026-11-19", "2026-11-20", "2026-11-23"]
    for day in days:
        clock.now = at(2026, 11, 18, 16, 0) if day == days[0] else clock.now
        made = book(app_client, day, "0900")
        assert made["http"] == 201, made
        y, m, d = (int(x) for x in day.split("-"))
        clock.now = at(y, m, d, 9, 16)
        assert app_client.portal.call(store.sweep_no_shows, "town") == 1  # type: ignore[union-attr]
    clock.now = at(2026, 11, 23, 10, 0)
    blocked = book(app_client, "2026-11-25", "0900")
    assert blocked["error"]["code"] == "booking_blocked"  # type: ignore[index]
    overview = app_client.get(f"{HALL}/appointments/days/2026-11-23",
                              headers=Accounts(app_client).user("m", Role.MANAGER, "town"))
    assert overview.json()["statuses"] == {"no_show": 1}
    assert overview.json()["no_show_rate"] == 1.0
    app_client.cookies.clear()  # the citizen is not the manager who just signed in
    clock.now = at(2026, 11, 23, 9, 0) + 90 * 86400 + 3600
    later = book(app_client, "2027-02-23", "0900")
    assert later["http"] == 201, later


def redis_text(redis_url: str) -> list[str]:
    """Every key and value of the test's database, events included, as text."""
    client = redis.Redis.from_url(redis_url)
    dump = []
    for key in client.scan_iter("*"):
        kind = client.type(key).decode()
        dump.append(key.decode())
        if kind == "hash":
            dump += [str(v) for v in client.hgetall(key).values()]
        elif kind == "string":
            dump.append(str(client.get(key)))
        elif kind == "zset":
            dump += [str(m) for m in client.zrange(key, 0, -1)]
        elif kind == "stream":
            dump += [str(fields) for _, fields in client.xrange(key)]
        elif kind == "list":
            dump += [str(v) for v in client.lrange(key, 0, -1)]
    return dump


def assert_never_in_clear(id_number: str, texts: list[str]) -> None:
    text = "\n".join(texts)
    for secret in (id_number, id_number.lower(), id_number[6:14], id_number[:14]):
        assert secret not in text


def test_id_numbers_never_in_clear(app_client: TestClient, clock: FakeClock,
                                   redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kiosk = Accounts(app_client).device(Role.KIOSK, "town")
    manager = Accounts(app_client).user("m", Role.MANAGER, "town")
    clock.now = at(2026, 11, 18, 16, 0)
    made = book(app_client, "2026-11-19", "1000", id_number=ID_B)
    assert made["http"] == 201
    pages = [app_client.get(f"{HALL}/appointments/{made['id']}").text,
             app_client.get(f"/h/town/book/{made['id']}").text]
    # the answers are what the API declares (ticketing/booking_views.py: strict models)
    booking_views.BookingView.model_validate({k: v for k, v in made.items() if k != "http"})
    booking_views.BookingView.model_validate_json(pages[0])
    booking_views.ChallengeView.model_validate(
        app_client.get(f"{HALL}/appointments/challenge").json())
    booking_views.SlotsView.model_validate(app_client.get(
        f"{HALL}/appointments/slots", params={"matter": "MZ-JZ", "day": "2026-11-19"}).json())
    booking_views.DeadLetters.model_validate(
        app_client.get(f"{HALL}/notifications/dead", headers=manager).json())
    booking_views.CalendarView.model_validate(app_client.get(f"{HALL}/calendar").json())
    clock.now = at(2026, 11, 19, 9, 50)
    checked = app_client.post(f"{HALL}/checkin", json={"id_number": ID_B}, headers=kiosk)
    assert checked.status_code == 201
    ticket_id = checked.json()["ticket"]["id"]
    booking_views.CheckinView.model_validate(checked.json())
    booking_views.DayFiguresView.model_validate(app_client.get(
        f"{HALL}/appointments/days/2026-11-19", headers=manager).json())
    pages += [checked.text, app_client.get(f"{HALL}/tickets/{ticket_id}").text,
              app_client.get(f"/h/town/t/{ticket_id}").text,
              app_client.get("/h/town/checkin").text, app_client.get("/h/town/kiosk").text,
              app_client.get(f"{HALL}/appointments/days/2026-11-19", headers=manager).text,
              app_client.get(f"{HALL}/dashboard", headers=manager).text]
    dump = redis_text(redis_url)
    # a wrong ID at check-in is refused, and not echoed either
    pages.append(app_client.post(f"{HALL}/checkin", json={"id_number": ID_B[:17] + "9"},
                                 headers=kiosk).text)
    assert "19800101" in ID_B
    assert_never_in_clear(ID_B, [*dump, *pages, caplog.text])


def test_identity_at_the_kiosk_limits_and_gives_the_green_channel(
        redis_url: str, clock: FakeClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    text = (Path(__file__).resolve().parents[2] / "hall/halls/town.toml").read_text("utf-8")
    path = tmp_path / "town.toml"
    path.write_text(text + '\n[appointments]\nkiosk_identity = "optional"\n', encoding="utf-8")
    halls = {"town": load_hall(path)}
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=True, identity_secret="s3cret")
    with TestClient(create_app(settings, halls=halls, clock=clock)) as app_client:
        kiosk = Accounts(app_client).device(Role.KIOSK, "town")

        def take(matter: str, id_number: str | None = None) -> dict[str, object]:
            body = {"matter": matter, **({"id_number": id_number} if id_number else {})}
            response = app_client.post(f"{HALL}/tickets", json=body, headers=kiosk)
            return {**response.json(), "http": response.status_code}

        elder = take("MZ-JZ", ID_A)  # born 1949: 76 years old
        assert elder["http"] == 201 and elder["priority_group"] == "elderly"
        again = take("MZ-JZ", ID_A)
        assert again["http"] == 409 and again["error"]["code"] == "identity_limit"  # type: ignore[index]
        assert take("JY-DJ", ID_A)["http"] == 201  # another matter
        younger = take("MZ-JZ", ID_B)  # born 1980
        assert younger["http"] == 201 and younger["priority_group"] is None
        assert take("MZ-JZ")["http"] == 201  # optional: without an ID too
        bad = take("MZ-JZ", "110105194912310021")
        assert bad["error"]["code"] == "invalid_id_number"  # type: ignore[index]
        clock.advance(86400)  # a new day, a new count
        assert take("MZ-JZ", ID_A)["http"] == 201
        keys = redis.Redis.from_url(redis_url).keys("*kiosk*")
        assert keys
        # the numbers typed at the kiosk: nowhere in Redis (events included), the answers,
        # the kiosk page or the log
        assert_never_in_clear(ID_A, [*redis_text(redis_url), str(elder), str(again),
                                     app_client.get("/h/town/kiosk").text, caplog.text])
        assert_never_in_clear(ID_B, [*redis_text(redis_url), str(younger), caplog.text])


def test_save_my_spot_from_a_phone(app_client: TestClient, clock: FakeClock,
                                   redis_url: str) -> None:
    """A remote ticket: identity limit; called before "I am here" → no-show with re-join;
    after "I am here" → called like anyone."""
    clock.now = at(2026, 11, 19, 9, 0)
    accounts = Accounts(app_client)

    def remote(name: str, phone: str) -> dict[str, object]:
        challenge = app_client.get(f"{HALL}/appointments/challenge").json()["challenge"]
        response = app_client.post(f"{HALL}/remote-tickets", json={
            "matter": "MZ-JZ", "name": name, "phone": phone, "challenge": challenge,
            "solution": pow.solve(challenge)})
        return {**response.json(), "http": response.status_code}

    away = remote("赵六", "13700137000")
    assert away["http"] == 201 and away["page"] == f"/h/town/t/{away['id']}"
    # the answer is its declared body (a strict model: nothing more than the citizen's view)
    public.RemoteTicketView.model_validate({k: v for k, v in away.items() if k != "http"})
    assert remote("赵六", "13700137000")["error"]["code"] == "identity_limit"  # type: ignore[index]
    present = remote("钱七", "13600136000")
    here = app_client.post(f"{HALL}/tickets/{present['id']}/here")
    assert here.status_code == 200
    public.PresentView.model_validate(here.json())
    clerk = accounts.clerk("T02", "town")
    app_client.post(f"{HALL}/windows/2/login", headers=clerk)
    first = app_client.post(f"{HALL}/windows/2/call-next", headers=clerk).json()["ticket"]
    assert first["number"] == away["number"]
    deadline = time.monotonic() + 10  # the observer marks it right after the call
    status = ""
    while time.monotonic() < deadline and status != "no_show":
        status = app_client.get(f"{HALL}/tickets/{away['id']}").json()["status"]
        time.sleep(0.05)
    assert status == "no_show"
    second = app_client.post(f"{HALL}/windows/2/call-next", headers=clerk).json()["ticket"]
    assert second["number"] == present["number"]
    # the observer has judged this call once it queued the "called" message …
    told = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not told.exists(
            notify.sent_key("town", notify.reason("called", present["id"]))):
        time.sleep(0.05)
    assert told.exists(notify.sent_key("town", notify.reason("called", present["id"])))
    # … and left the present citizen's call alone
    assert app_client.get(f"{HALL}/tickets/{present['id']}").json()["status"] == "called"
    # the absent citizen comes and re-joins, as after any missed call
    assert app_client.post(f"{HALL}/tickets/{away['id']}/rejoin").status_code == 200
    clock.now = at(2026, 11, 19, 20, 0)  # closed: no remote ticket outside opening hours
    assert remote("孙八", "13500135000")["error"]["code"] == "hall_closed"  # type: ignore[index]


def test_scripted_booking_costs_work_and_is_rate_limited(
        redis_url: str, clock: FakeClock, tmp_path: Path) -> None:
    """No booking without a solved challenge; each challenge once; at most
    ``requests_per_minute`` booking writes per address; a refusal books nothing."""
    text = (Path(__file__).resolve().parents[2] / "hall/halls/town.toml").read_text("utf-8")
    path = tmp_path / "town.toml"
    path.write_text(text + "\n[appointments]\nrequests_per_minute = 3\npow_bits = 12\n",
                    encoding="utf-8")
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=False, identity_secret="s3cret")
    clock.now = at(2026, 11, 18, 16, 0)
    with TestClient(create_app(settings, halls={"town": load_hall(path)}, clock=clock),
                    headers={"Origin": "http://testserver"}) as client:
        manager = Accounts(client).user("m", Role.MANAGER, "town")
        client.cookies.clear()  # the citizen's requests carry no staff session

        def booked() -> int:
            figures = client.get(f"{HALL}/appointments/days/2026-11-19", headers=manager).json()
            return int(figures["total"]["booked"])

        def post(challenge: str | None, solution: str | None, phone: str) -> dict[str, Any]:
            body = {"matter": "MZ-JZ", "day": "2026-11-19", "slot": SLOTS[phone[-1]],
                    "name": "张三", "phone": phone,
                    **({"challenge": challenge} if challenge else {}),
                    **({"solution": solution} if solution is not None else {})}
            response = client.post(f"{HALL}/appointments", json=body)
            return {**response.json(), "http": response.status_code}

        def fresh() -> str:
            return str(client.get(f"{HALL}/appointments/challenge").json()["challenge"])

        assert post(None, None, "13800000001")["error"]["code"] == "pow_invalid"
        challenge = fresh()
        wrong = next(str(n) for n in range(1000) if not _solves(challenge, str(n)))
        assert post(challenge, wrong, "13800000001")["error"]["code"] == "pow_invalid"
        assert booked() == 0
        assert post(challenge, pow.solve(challenge), "13800000001")["http"] == 201
        replay = post(challenge, pow.solve(challenge), "13800000002")
        assert replay["http"] == 422 and replay["error"]["code"] == "pow_invalid"
        other = fresh()
        assert post(other, pow.solve(other), "13800000003")["http"] == 201
        third = fresh()  # the 4th write of this minute from this address
        limited = post(third, pow.solve(third), "13800000004")
        assert limited["http"] == 429 and limited["error"]["code"] == "rate_limited"
        assert booked() == 2
        clock.advance(60)  # the next minute
        again = fresh()
        assert post(again, pow.solve(again), "13800000004")["http"] == 201
        assert booked() == 3


SLOTS = {"1": "0900", "2": "0900", "3": "1000", "4": "1400"}  # a place each: none is full


def _solves(challenge: str, solution: str) -> bool:
    try:
        pow.verify(b"s3cret", challenge, solution, 0.0, 0)
    except Exception:
        return False
    return True
