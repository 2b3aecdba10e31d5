"""Booking on a phone, checking in and identity at a kiosk, the manager's booking figures,
in the real browser, with screenshots.

The phone books through the page (matter → what to bring → day → slot → identity, with the
proof of work solved in the page). The kiosk checks in a booking whose slot is now: the
hall file used here is open all day, every day, and that booking was made earlier (by the
store on a clock two hours back), as a citizen would have made it. The ID number typed on
the kiosk never shows on a page nor in the app's log.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import expect
from redis.asyncio import Redis as AsyncRedis

from hall.auth import Role
from hall.config import HallConfig, load_hall
from tests.e2e.live import (
    PASSWORD,
    add_clerk,
    add_device,
    add_privileged,
    browser,
    clerk_session,
    screenshot,
)
from tests.support import ROOT, AppProcess, free_port
from ticketing import notify
from ticketing.appointments import AppointmentStore
from ticketing.calendars import hall_calendar
from ticketing.slots import day_slots
from ticketing.store import TicketStore

pytestmark = pytest.mark.browser
ID_NUMBER = "11010519491231002X"


def noon_zone() -> str:
    """A fixed-offset zone where it is about noon now: the slots around "now" and "45
    minutes ago" then lie on the hall's today, whenever the suite runs."""
    offset = 12 - datetime.now(UTC).hour  # -11 … +12 hours
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # Etc/GMT-5 is UTC+5


@pytest.fixture
def all_day_hall(tmp_path: Path) -> Path:
    """The town hall open all day, every day (national holidays off), at local noon."""
    text = (ROOT / "hall/halls/town.toml").read_text(encoding="utf-8")
    text = re.sub(r"weekdays = \[1, 2, 3, 4, 5\]\nperiods = \[[^\]]*\]",
                  'weekdays = [1, 2, 3, 4, 5, 6, 7]\nperiods = ["00:00-23:59"]\n\n'
                  '[hall.calendar]\nholidays = "none"', text)
    text = text.replace('timezone = "Asia/Shanghai"', f'timezone = "{noon_zone()}"')
    assert "00:00-23:59" in text and "Etc/GMT" in text
    path = tmp_path / "town.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def town_app(redis_url: str, tmp_path: Path, all_day_hall: Path) -> Iterator[AppProcess]:
    proc = AppProcess(redis_url, log_path=tmp_path / "app.log",
                      extra_env={"HALL_FILES": str(all_day_hall)}).start()
    yield proc
    proc.stop()


def assert_not_in_log(log: Path, *secrets: str) -> None:
    text = log.read_text(encoding="utf-8", errors="replace")
    for secret in secrets:
        assert secret not in text


def test_book_on_a_phone(town_app: AppProcess) -> None:
    base = town_app.base_url
    with browser() as b:
        phone = b.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{base}/h/town/book")
        phone.click("[data-matter=MZ-JZ]")
        expect(phone.get_by_test_id("step-docs")).to_be_visible()
        expect(phone.get_by_test_id("step-day")).to_be_visible()
        days = phone.locator("#days button:not([disabled])")
        for i in range(days.count()):
            days.nth(i).click()
            expect(phone.get_by_test_id("step-slot")).to_be_visible()
            if phone.locator("#slots button:not([disabled])").count():
                break
        screenshot(phone, "booking-phone-slots")
        phone.locator("#slots button:not([disabled])").first.click()
        phone.fill("#name", "张三")
        phone.fill("#phone", "13800138000")
        phone.fill("#id_number", ID_NUMBER)
        screenshot(phone, "booking-phone-form")
        phone.click("#submit")
        done = phone.get_by_test_id("booking-done")
        expect(done).to_be_visible(timeout=20000)
        code = phone.get_by_test_id("booking-code").inner_text()
        assert re.fullmatch(r"[2-9A-Z]{8}", code)
        expect(done).to_contain_text("110105********002X")
        expect(done).to_contain_text("138****8000")
        assert ID_NUMBER not in phone.content()
        assert "/h/town/book/" in phone.url
        assert phone.locator("#qr").evaluate("img => img.naturalWidth") > 0  # the QR is drawn
        screenshot(phone, "booking-phone-done")
        # the link shows the booking again; the holder cancels it
        phone.reload()
        expect(phone.get_by_test_id("booking-code")).to_have_text(code)
        phone.once("dialog", lambda d: d.accept())
        phone.click("#cancel")
        expect(phone.locator("#h-done")).to_have_text("预约已取消")
        assert ID_NUMBER not in phone.content()


def _book_earlier(redis_url: str, cfg: HallConfig, *, late_by: float = 0.0,
                  name: str = "李四", phone: str | None = None,
                  id_number: str | None = ID_NUMBER) -> tuple[str, bool]:
    """Book the slot nearest ``late_by`` seconds ago, as if two hours ago; (code, whether
    check-in is on time now). ``late_by`` ≥ 30 minutes: a slot whose check-in has passed."""
    cal = hall_calendar(cfg)
    now = time.time()
    today = cal.local(now).date()
    grid = day_slots(cal, today, 30)
    target = now - late_by
    upcoming = [s for s in grid if target - 15 * 60 < s.start <= target + 30 * 60]
    slot = upcoming[0] if upcoming else max((s for s in grid if s.start <= target),
                                            key=lambda s: s.start)

    async def run() -> str:
        client = AsyncRedis.from_url(redis_url)
        try:
            earlier = lambda: now - 2 * 3600  # noqa: E731
            tickets = TicketStore(client, {cfg.id: cfg}, earlier)
            store = AppointmentStore(client, tickets, earlier, b"test-identity-secret")
            booking = await store.book(cfg.id, "MZ-JZ", today, slot.label, name=name,
                                       phone=phone, id_number=id_number)
            return booking.code
        finally:
            await client.aclose()

    return asyncio.run(run()), bool(upcoming) and late_by == 0.0


def _sweep_no_shows(redis_url: str, cfg: HallConfig) -> int:
    """What the app's sweep does every minute, now (the store's own no-show rule)."""
    async def run() -> int:
        client = AsyncRedis.from_url(redis_url)
        try:
            tickets = TicketStore(client, {cfg.id: cfg}, time.time)
            store = AppointmentStore(client, tickets, time.time, b"test-identity-secret")
            return await store.sweep_no_shows(cfg.id)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_check_in_at_the_kiosk(town_app: AppProcess, redis_url: str,
                               all_day_hall: Path) -> None:
    cfg = load_hall(all_day_hall)
    code, on_time = _book_earlier(redis_url, cfg)
    kiosk_token = add_device(redis_url, Role.KIOSK, "town")
    with browser() as b:
        kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.goto(f"{town_app.base_url}/h/town/kiosk?device={kiosk_token}")
        kiosk.click("[data-matter=JY-DJ]")  # a walk-in first
        expect(kiosk.get_by_test_id("kiosk-ticket")).to_be_visible()
        kiosk.click("#done")
        kiosk.get_by_test_id("kiosk-checkin-link").click()  # the kiosk's way to check in
        expect(kiosk.get_by_test_id("checkin-form")).to_be_visible()
        assert "/h/town/checkin" in kiosk.url
        kiosk.get_by_test_id("checkin-code").fill("WRONG123")
        kiosk.click("#go")
        expect(kiosk.get_by_test_id("checkin-error")).to_contain_text("找不到这个预约")
        kiosk.get_by_test_id("checkin-code").fill("")
        kiosk.get_by_test_id("checkin-id").fill(ID_NUMBER)
        screenshot(kiosk, "checkin-kiosk-form")
        kiosk.click("#go")
        ticket = kiosk.get_by_test_id("checkin-ticket")
        expect(ticket).to_be_visible()
        expect(kiosk.locator("#t-number")).to_have_text("A002")  # after the walk-in A001
        expect(kiosk.locator("#t-label")).to_contain_text("签到成功" if on_time else "现场取号")
        # 一次性告知 on the slip: what to bring for 社会救助申请
        expect(kiosk.locator("#t-docs")).to_contain_text("家庭收入和财产情况说明")
        assert ID_NUMBER not in kiosk.content()
        screenshot(kiosk, "checkin-kiosk-ticket")
        # a typed ID number left on the screen is gone after the hall's reset time (20 s)
        kiosk.click("#done")
        kiosk.get_by_test_id("checkin-id").fill(ID_NUMBER)
        expect(kiosk.get_by_test_id("checkin-id")).to_have_value("", timeout=40000)
    assert code
    assert_not_in_log(town_app.log_path or Path("/nonexistent"), ID_NUMBER, ID_NUMBER[6:14])


@pytest.fixture
def identity_hall(all_day_hall: Path) -> Path:
    with all_day_hall.open("a", encoding="utf-8") as out:
        out.write('\n[appointments]\nkiosk_identity = "optional"\n')
    return all_day_hall


def test_kiosk_asks_the_id_number_where_the_hall_wants_it(
        redis_url: str, tmp_path: Path, identity_hall: Path) -> None:
    """Identity at the kiosk (issue 13, item 6), at kiosk size: the ID field, the green
    channel by age without asking, one ticket per person, matter and day; the number is
    never on the page nor in the log."""
    app = AppProcess(redis_url, log_path=tmp_path / "identity.log",
                     extra_env={"HALL_FILES": str(identity_hall)}).start()
    try:
        kiosk_token = add_device(redis_url, Role.KIOSK, "town")
        with browser() as b:
            kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
            kiosk.goto(f"{app.base_url}/h/town/kiosk?device={kiosk_token}")
            field = kiosk.get_by_test_id("kiosk-id")
            expect(field).to_be_visible()
            expect(kiosk.get_by_test_id("kiosk-id-box")).to_contain_text("60 岁以上")
            # 一次性告知 before the ticket is taken: what to bring, on the matter's button
            expect(kiosk.locator("[data-matter=MZ-JZ] [data-testid=matter-documents]")
                   ).to_contain_text("家庭收入和财产情况说明")
            field.fill(ID_NUMBER)  # born 1949
            screenshot(kiosk, "kiosk-identity-form")
            kiosk.click("[data-matter=MZ-JZ]")
            ticket = kiosk.get_by_test_id("kiosk-ticket")
            expect(ticket).to_be_visible()
            ticket_id = ticket.get_attribute("data-ticket-id")
            assert ID_NUMBER not in kiosk.content()
            screenshot(kiosk, "kiosk-identity-ticket")
            kiosk.click("#done")
            expect(field).to_have_value("")  # nothing of the last citizen left
            field.fill(ID_NUMBER.lower())  # the same person again, same matter, same day
            kiosk.click("[data-matter=MZ-JZ]")
            expect(kiosk.locator("#error")).to_contain_text("今天已为该事项取过号")
            assert ID_NUMBER not in kiosk.content()
        got = httpx.get(f"{app.base_url}/api/halls/town/tickets/{ticket_id}").json()
        assert got["priority_group"] == "elderly", got
    finally:
        app.stop()
    assert_not_in_log(tmp_path / "identity.log", ID_NUMBER, ID_NUMBER.lower(), ID_NUMBER[6:14])


def test_manager_sees_booking_figures_and_undelivered_messages(
        redis_url: str, tmp_path: Path, all_day_hall: Path) -> None:
    """The dashboard's appointments panel: per matter and slot booked / checked in / late /
    no-show / walk-in share; and a message the gateway refused after every retry, dead-
    lettered by a real worker, listed for the manager with the phone masked."""
    refused = f"http://127.0.0.1:{free_port()}/sms"  # nothing listens: every try fails
    env = {"HALL_FILES": str(all_day_hall), "HALL_NOTIFY_URL": refused,
           "HALL_NOTIFY_SECRET": "gateway-secret"}
    app = AppProcess(redis_url, log_path=tmp_path / "app.log", extra_env=env).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "hall.cli", "worker"], cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cfg = load_hall(all_day_hall)
        code, _ = _book_earlier(redis_url, cfg, name="王五", phone="13900139000",
                                id_number=None)
        _book_earlier(redis_url, cfg, late_by=45 * 60, name="赵六", id_number=ID_NUMBER)
        assert _sweep_no_shows(redis_url, cfg) == 1
        kiosk = {"Authorization": f"Bearer {add_device(redis_url, Role.KIOSK, 'town')}"}
        base = app.base_url
        checked = httpx.post(f"{base}/api/halls/town/checkin", json={"code": code},
                             headers=kiosk)
        assert checked.status_code == 201, checked.text
        booked_ticket = checked.json()["ticket"]["id"]
        walk_in = httpx.post(f"{base}/api/halls/town/tickets", json={"matter": "MZ-JZ"},
                             headers=kiosk)
        assert walk_in.status_code == 201
        clerk = clerk_session(base, add_clerk(redis_url, "T02", "town"))
        assert clerk.post("/api/halls/town/windows/2/login").status_code == 200
        for _ in range(2):  # call until the booked citizen is called (told by SMS)
            called = clerk.post("/api/halls/town/windows/2/call-next").json()["ticket"]
            if called["id"] == booked_ticket:
                break
            for action in ("start", "finish"):
                clerk.post(f"/api/halls/town/windows/2/{action}")
        assert called["id"] == booked_ticket
        for action in ("start", "finish"):  # served: its wait counts as a booked citizen's
            assert clerk.post(f"/api/halls/town/windows/2/{action}").status_code == 200
        r = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 90  # 1 + 3 + 9 s of retries on a loaded machine
        while time.monotonic() < deadline and not r.llen(notify.dead_key("town")):
            time.sleep(0.2)
        assert r.llen(notify.dead_key("town")) == 1
        totp = add_privileged(redis_url, "boss", hall="town")
        with browser() as b:
            page = b.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/h/town/dashboard")
            page.fill("input[name=username]", "boss")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=code]", totp.now())
            page.click("#login-form button[type=submit]")
            row = page.locator("#bookings tr[data-matter=MZ-JZ]")
            expect(row).to_be_visible()
            cells = row.locator("td")
            # matter, places, booked, fill, checked in, late, no-show, expected, no-show rate,
            # walk-in share (the walk-in of 2 tickets)
            expect(cells.nth(2)).to_have_text("2")
            expect(cells.nth(4)).to_have_text("1")
            expect(cells.nth(5)).to_have_text("0")
            expect(cells.nth(6)).to_have_text("1")
            expect(cells.nth(7)).to_have_text("0")
            expect(cells.nth(8)).to_have_text("50.0%")
            expect(cells.nth(9)).to_have_text("50.0%")
            expect(page.get_by_test_id("bookings-total")).to_contain_text("已约 2/")
            expect(page.get_by_test_id("bookings-provisional")).to_be_hidden()
            # waits of booked vs walk-in citizens today
            expect(page.get_by_test_id("channel-waits")).to_contain_text("预约签到 1 人办结")
            page.locator("#booking-slots details[data-matter=MZ-JZ] summary").click()
            slot_rows = page.locator("#booking-slots details[data-matter=MZ-JZ] tr[data-slot]")
            expect(slot_rows.first).to_be_visible()
            # per slot: booked, checked in, no-show summed over the day's rows
            sums = slot_rows.evaluate_all("rows => [2, 4, 6].map(i => rows.reduce("
                                          "(a, r) => a + Number(r.cells[i].textContent), 0))")
            assert sums == [2, 1, 1]
            dead = page.get_by_test_id("dead-letters")
            expect(dead).to_contain_text("叫号通知")
            expect(dead).to_contain_text("139****9000")
            expect(page.get_by_test_id("dead-count")).to_have_text("1")
            content = page.content()
            assert "13900139000" not in content and ID_NUMBER not in content
            screenshot(page, "dashboard-bookings")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        app.stop()
    assert_not_in_log(tmp_path / "app.log", ID_NUMBER, "13900139000")


def test_save_my_spot_on_a_phone(town_app: AppProcess) -> None:
    with browser() as b:
        phone = b.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{town_app.base_url}/h/town/book")
        phone.click("[data-matter=JY-DJ]")
        phone.get_by_test_id("remote-start").click()
        phone.fill("#name", "周九")
        phone.fill("#phone", "13300133000")
        phone.click("#submit")
        expect(phone.get_by_test_id("remote-done")).to_be_visible(timeout=20000)
        expect(phone.get_by_test_id("remote-number")).to_have_text(re.compile(r"^A\d{3}$"))
        phone.get_by_test_id("remote-here").click()
        expect(phone.get_by_test_id("remote-present")).to_be_visible()
        screenshot(phone, "booking-phone-remote")
