"""Booking on a phone and checking in at a kiosk, in the real browser, with screenshots.

The phone books through the page (matter → what to bring → day → slot → identity, with the
proof of work solved in the page). The kiosk checks in a booking whose slot is now: the
hall file used here is open all day, every day, and that booking was made earlier (by the
store on a clock two hours back), as a citizen would have made it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from redis.asyncio import Redis as AsyncRedis

from hall.auth import Role
from hall.config import HallConfig, load_hall
from tests.e2e.live import add_device, browser, screenshot
from tests.support import ROOT, AppProcess
from ticketing.appointments import AppointmentStore
from ticketing.calendars import hall_calendar
from ticketing.slots import day_slots
from ticketing.store import TicketStore

pytestmark = pytest.mark.browser
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def all_day_hall(tmp_path: Path) -> Path:
    text = (ROOT / "hall/halls/town.toml").read_text(encoding="utf-8")
    text = re.sub(r"weekdays = \[1, 2, 3, 4, 5\]\nperiods = \[[^\]]*\]",
                  'weekdays = [1, 2, 3, 4, 5, 6, 7]\nperiods = ["00:00-23:59"]', text)
    assert "00:00-23:59" in text
    path = tmp_path / "town.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def town_app(redis_url: str, tmp_path: Path, all_day_hall: Path) -> Iterator[AppProcess]:
    proc = AppProcess(redis_url, log_path=tmp_path / "app.log",
                      extra_env={"HALL_FILES": str(all_day_hall)}).start()
    yield proc
    proc.stop()


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


def _book_earlier(redis_url: str, cfg: HallConfig) -> tuple[str, bool]:
    """Book the slot nearest now, as if two hours ago; (code, whether check-in is on time)."""
    cal = hall_calendar(cfg)
    now = time.time()
    today = cal.local(now).date()
    grid = day_slots(cal, today, 30)
    upcoming = [s for s in grid if now - 15 * 60 < s.start <= now + 30 * 60]
    slot = upcoming[0] if upcoming else max((s for s in grid if s.start <= now),
                                            key=lambda s: s.start)

    async def run() -> str:
        client = AsyncRedis.from_url(redis_url)
        try:
            earlier = lambda: now - 2 * 3600  # noqa: E731
            tickets = TicketStore(client, {cfg.id: cfg}, earlier)
            store = AppointmentStore(client, tickets, earlier, b"test-identity-secret")
            booking = await store.book(cfg.id, "MZ-JZ", today, slot.label, name="李四",
                                       id_number=ID_NUMBER)
            return booking.code
        finally:
            await client.aclose()

    return asyncio.run(run()), bool(upcoming)


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
    assert code


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
