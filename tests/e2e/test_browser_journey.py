"""The issue's journey in a real browser: kiosk → clerk console → board, window display and
citizen page within one second → finish → rate on the pad. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from hall.auth import Role
from tests.e2e.live import PASSWORD, add_clerk, add_device, browser, screenshot

pytestmark = pytest.mark.browser

RECORD_CALL = """number => {
  window.__calledAt = null;
  window.addEventListener('hall:event', (e) => {
    const d = e.detail.data || {};
    if (e.detail.type === 'ticket.called' && d.ticket && d.ticket.number === number
        && window.__calledAt === null) window.__calledAt = Date.now();
  });
}"""


def test_ticket_called_shown_everywhere_within_a_second_then_rated(app, redis_url):
    base = app.base_url
    username = add_clerk(redis_url, "S01")
    kiosk_token = add_device(redis_url, Role.KIOSK)
    pad_token = add_device(redis_url, Role.PAD, window=1)
    with browser() as b:
        board = b.new_page(viewport={"width": 1920, "height": 1080})
        board.goto(f"{base}/h/district/board")
        display = b.new_page(viewport={"width": 1280, "height": 720})
        display.goto(f"{base}/h/district/window/1")
        pad = b.new_page(viewport={"width": 1280, "height": 800})
        pad.goto(f"{base}/h/district/pad/1?device={pad_token}")
        clerk = b.new_page(viewport={"width": 1440, "height": 900})
        clerk.goto(f"{base}/h/district/clerk")

        # The clerk logs in and signs in at window 1.
        clerk.fill("input[name=username]", username)
        clerk.fill("input[name=password]", PASSWORD)
        clerk.click("#login button[type=submit]")
        clerk.select_option("#window-select", "1")
        clerk.click("#pick button[type=submit]")
        expect(clerk.locator("#console")).to_be_visible()
        expect(display.get_by_test_id("window-clerk")).to_contain_text("QZ0101")

        # A citizen takes a ticket at the kiosk (portrait screen), green channel: elderly.
        kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.goto(f"{base}/h/district/kiosk?device={kiosk_token}")
        assert "device=" not in kiosk.url  # the token is kept client-side, not in the URL
        kiosk.click("[data-priority=elderly]")
        kiosk.click("[data-matter=QY-KB]")
        ticket = kiosk.get_by_test_id("kiosk-ticket")
        expect(ticket).to_be_visible()
        number = kiosk.locator("#t-number").inner_text()
        assert number == "A001"
        expect(kiosk.locator("#t-ahead")).to_contain_text("0")
        ticket_id = ticket.get_attribute("data-ticket-id")
        expect(kiosk.locator("#t-qr")).to_have_attribute("src",
                                                         f"/h/district/t/{ticket_id}/qr.svg")
        expect(kiosk.locator("#t-qr")).to_have_js_property("complete", True)
        screenshot(kiosk, "kiosk")
        kiosk.emulate_media(media="print")  # the 80 mm thermal printer layout
        box = ticket.bounding_box()
        assert box is not None and box["width"] <= 80 / 25.4 * 96  # 80 mm at 96 px/inch
        expect(kiosk.locator("#choose")).to_be_hidden()
        expect(kiosk.locator("#print")).to_be_hidden()
        screenshot(kiosk, "kiosk-print")
        kiosk.emulate_media(media="screen")

        # The citizen follows the ticket on a phone, through the QR code's link.
        phone = b.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{base}/h/district/t/{ticket_id}")
        expect(phone.get_by_test_id("ticket-number")).to_have_text(number)
        expect(phone.get_by_test_id("ticket-alert")).to_have_attribute("data-kind", "near")
        expect(board.locator("[data-queue=A] .wait-count")).to_have_text("1")

        for page in (board, display, phone):
            expect(page.locator("body")).to_have_attribute("data-connected", "1")
            page.evaluate(RECORD_CALL, number)

        # The clerk calls by keyboard; board, window display and phone show it within 1 s.
        clerk.locator("body").click()
        pressed = time.time() * 1000
        clerk.keyboard.press("n")
        expect(board.get_by_test_id("latest-call")).to_have_attribute("data-number", number)
        expect(display.get_by_test_id("window-current")).to_have_text(number)
        expect(phone.get_by_test_id("ticket-alert")).to_have_attribute("data-kind", "called")
        arrivals = {name: page.evaluate("window.__calledAt") - pressed
                    for name, page in (("board", board), ("window", display), ("phone", phone))}
        assert all(0 <= ms < 1000 for ms in arrivals.values()), arrivals
        expect(clerk.get_by_test_id("clerk-current")).to_have_text(number)
        expect(board.locator("#latest-text")).to_contain_text("1")
        expect(board.locator("[data-queue=A] .wait-count")).to_have_text("0")
        screenshot(board, "board")
        screenshot(display, "window-display")
        screenshot(phone, "citizen-called")

        # A refused action is shown plainly: finishing before starting.
        clerk.keyboard.press("f")
        expect(clerk.get_by_test_id("clerk-error")).to_be_visible()
        screenshot(clerk, "clerk-console-refused")
        clerk.keyboard.press("s")
        expect(clerk.locator("#cur-number")).to_have_attribute("data-status", "serving")
        clerk.keyboard.press("f")
        expect(clerk.get_by_test_id("clerk-current")).to_have_text("—")
        screenshot(clerk, "clerk-console")

        # After finish: the pad offers the five levels for that ticket, once.
        form = pad.get_by_test_id("rating-form")
        expect(form).to_be_visible()
        expect(pad.locator("#rating-title")).to_contain_text(number)
        expect(form.locator(".level")).to_have_count(5)
        expect(phone.get_by_test_id("rating-form")).to_be_visible()
        screenshot(pad, "pad")
        pad.click("[data-level=very_satisfied]")
        pad.click("#rating-submit")
        expect(pad.get_by_test_id("rating-thanks")).to_be_visible()
        # The phone learns the ticket was rated and stops offering the form.
        expect(phone.get_by_test_id("rating-thanks")).to_be_visible()
        expect(phone.get_by_test_id("rating-form")).to_be_hidden()
        screenshot(phone, "citizen-rated")
        pad.reload()
        expect(pad.get_by_test_id("pad-idle")).to_be_visible()
        expect(pad.get_by_test_id("rating-form")).to_be_hidden()


def test_pages_switch_to_english_and_refuse_unknown_halls(app):
    with browser() as b:
        page = b.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{app.base_url}/h/district/board")
        expect(page.locator("h1")).to_have_text("示范区政务服务中心")
        page.get_by_test_id("lang-switch").click()
        expect(page.locator("h1")).to_have_text("District Government Service Centre")
        expect(page.locator(".board-calls h2")).to_have_text("Latest calls")
        page.goto(f"{app.base_url}/h/district/window/3")  # the choice is remembered
        expect(page.locator(".ws-no")).to_have_text("Window 3")
        screenshot(page, "window-display-en")
        missing = page.goto(f"{app.base_url}/h/nowhere/board")
        assert missing is not None and missing.status == 404
        page.goto(f"{app.base_url}/")
        expect(page.locator("[data-hall=district]")).to_be_visible()
        screenshot(page, "index")


def test_clerk_console_keys_pause_call_a_number_and_transfer_with_a_note(app, redis_url):
    base = app.base_url
    username = add_clerk(redis_url, "S01")
    second = add_clerk(redis_url, "S06")
    kiosk_token = add_device(redis_url, Role.KIOSK)
    with browser() as b:
        kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.goto(f"{base}/h/district/kiosk?device={kiosk_token}")
        kiosk.get_by_role("tab", name="按部门").click()
        numbers = []
        for _ in range(3):
            kiosk.click("[data-matter=QY-KB]")
            expect(kiosk.get_by_test_id("kiosk-ticket")).to_be_visible()
            numbers.append(kiosk.locator("#t-number").inner_text())
            kiosk.click("#done")
            expect(kiosk.get_by_test_id("kiosk-ticket")).to_be_hidden()
        assert numbers == ["A001", "A002", "A003"]
        display = b.new_page(viewport={"width": 1280, "height": 720})
        display.goto(f"{base}/h/district/window/1")
        board = b.new_page(viewport={"width": 1920, "height": 1080})
        board.goto(f"{base}/h/district/board")
        clerk = b.new_page(viewport={"width": 1440, "height": 900})
        clerk.goto(f"{base}/h/district/clerk?window=1")
        clerk.fill("input[name=username]", username)
        clerk.fill("input[name=password]", PASSWORD)
        clerk.click("#login button[type=submit]")
        clerk.click("#pick button[type=submit]")
        expect(clerk.locator("[data-queue=A] .count")).to_have_text("3")

        clerk.locator("body").click()
        clerk.keyboard.press("p")  # pause: the window display says so
        expect(display.get_by_test_id("window-status")).to_have_text("暂停服务")
        expect(board.locator("[data-window='1'] .win-status")).to_have_text("暂停服务")
        clerk.keyboard.press("n")  # a paused window cannot call: the refusal is shown
        expect(clerk.get_by_test_id("clerk-error")).to_have_attribute("data-code",
                                                                       "window_not_open")
        clerk.keyboard.press("p")  # resume
        expect(display.get_by_test_id("window-status")).to_have_text("请稍候")

        clerk.keyboard.press("g")  # call a given number, out of order
        clerk.fill("#call-form input[name=number]", "a003")
        clerk.fill("#call-form input[name=reason]", "老人行动不便")
        clerk.keyboard.press("Enter")
        expect(clerk.get_by_test_id("clerk-current")).to_have_text("A003")
        expect(display.get_by_test_id("window-current")).to_have_text("A003")

        # A second clerk opens window 6 (a ticket is only sent to an open window).
        other = b.new_context(viewport={"width": 1440, "height": 900}).new_page()
        other.goto(f"{base}/h/district/clerk?window=6")
        other.fill("input[name=username]", second)
        other.fill("input[name=password]", PASSWORD)
        other.click("#login button[type=submit]")
        other.click("#pick button[type=submit]")
        expect(other.locator("#console")).to_be_visible()

        clerk.keyboard.press("t")  # transfer to window 6 with a note for the next clerk
        clerk.select_option("#transfer-window", "6")
        clerk.fill("#transfer-form textarea[name=note]", "缺少营业执照复印件")
        clerk.click("#transfer-form button[value=ok]")
        expect(clerk.get_by_test_id("clerk-current")).to_have_text("—")
        expect(display.get_by_test_id("window-current")).to_have_text("—")

        clerk.keyboard.press("r")  # nothing to recall now
        expect(clerk.get_by_test_id("clerk-error")).to_have_attribute("data-code",
                                                                       "no_current_ticket")
        clerk.keyboard.press("n")  # next in line is A001
        expect(clerk.get_by_test_id("clerk-current")).to_have_text("A001")
        clerk.keyboard.press("x")  # no-show
        expect(clerk.get_by_test_id("clerk-current")).to_have_text("—")
        expect(board.locator("[data-queue=A] .wait-count")).to_have_text("1")
        screenshot(clerk, "clerk-console-after-transfer")

        # 首问负责: the clerk at window 6 calls the transferred ticket and sees the note.
        other.locator("body").click()
        other.keyboard.press("n")
        expect(other.get_by_test_id("clerk-current")).to_have_text("A003")
        expect(other.locator("#cur-history")).to_contain_text("缺少营业执照复印件")
