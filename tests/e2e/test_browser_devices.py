"""Nothing a person typed is lost, and public devices forget, in a real browser:
the phone's rating survives a language switch at 390 and 320 px (the switch covers no
control); cancelling asks once and shows the way back; the pad stops offering the last
ticket at the window's next call and after its time; the kiosk clears a ticket after its
time and at the next touch. Screenshots go to test-artifacts/."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from hall.auth import Role
from tests.e2e.live import add_clerk, add_device, browser, clerk_session, screenshot

pytestmark = pytest.mark.browser
HALL = "/api/halls/district"


def _issue(base: str, kiosk: str, matter: str = "QY-KB") -> dict:
    issued = httpx.post(f"{base}{HALL}/tickets", json={"matter": matter},
                        headers={"Authorization": f"Bearer {kiosk}"})
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


def _serve(clerk: httpx.Client, window: int = 1) -> None:
    for action in ("call-next", "start", "finish"):
        assert clerk.post(f"{HALL}/windows/{window}/{action}").status_code == 200


def _overlaps(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.mark.parametrize("width", [390, 320])
def test_phone_rating_survives_a_language_switch_that_covers_no_control(app, redis_url, width):
    base = app.base_url
    kiosk = add_device(redis_url, Role.KIOSK)
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    assert clerk.post(f"{HALL}/windows/1/login").status_code == 200
    ticket = _issue(base, kiosk)
    _serve(clerk)
    with browser() as b:
        phone = b.new_page(viewport={"width": width, "height": 700}, is_mobile=True)
        phone.goto(f"{base}/h/district/t/{ticket['id']}?lang=zh")
        form = phone.get_by_test_id("rating-form")
        expect(form).to_be_visible()
        switch = phone.get_by_test_id("lang-switch").bounding_box()
        controls = phone.locator("#rating button, #rating textarea, .c-actions button")
        for i in range(controls.count()):
            box = controls.nth(i).bounding_box()
            if box:
                assert not _overlaps(switch, box), (i, switch, box)
        phone.click("[data-level=dissatisfied]")
        phone.fill("#rating-comment", "等了很久，窗口没人")
        phone.get_by_test_id("lang-switch").click()
        expect(phone.locator("#rating-title")).to_have_text("Please rate this service")
        expect(phone.locator("[data-level=dissatisfied]")).to_have_attribute("aria-pressed", "true")
        expect(phone.locator("#rating-comment")).to_have_value("等了很久，窗口没人")
        expect(phone.locator("#rating-submit")).to_be_enabled()
        screenshot(phone, f"phone-rating-kept-en-{width}")
        phone.click("#rating-submit")
        expect(phone.get_by_test_id("rating-thanks")).to_be_visible()


def test_cancel_asks_once_and_shows_the_way_back(app, redis_url):
    base = app.base_url
    ticket = _issue(base, add_device(redis_url, Role.KIOSK))
    with browser() as b:
        phone = b.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{base}/h/district/t/{ticket['id']}?lang=zh")
        expect(phone.get_by_test_id("ticket-status")).to_have_text("等候中")
        phone.click("#cancel")
        confirm = phone.get_by_test_id("cancel-confirm")
        expect(confirm).to_be_visible()
        expect(phone.locator("#cancel-keep")).to_be_focused()
        phone.click("#cancel-keep")  # changed their mind: nothing happened
        expect(confirm).to_be_hidden()
        expect(phone.get_by_test_id("ticket-status")).to_have_text("等候中")
        phone.click("#cancel")
        screenshot(phone, "phone-cancel-confirm-zh")
        phone.click("#cancel-yes")
        expect(phone.get_by_test_id("ticket-status")).to_have_text("已取消")
        expect(phone.get_by_test_id("way-back")).to_contain_text("取号机")
        screenshot(phone, "phone-cancelled-zh")
    status = httpx.get(f"{base}{HALL}/tickets/{ticket['id']}").json()["status"]
    assert status == "cancelled"


def test_pad_offers_a_rating_only_until_the_next_call_and_for_a_limited_time(app, redis_url):
    base = app.base_url
    kiosk = add_device(redis_url, Role.KIOSK)
    pad_token = add_device(redis_url, Role.PAD, window=1)
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    assert clerk.post(f"{HALL}/windows/1/login").status_code == 200
    first, second, third = (_issue(base, kiosk) for _ in range(3))
    with browser() as b:
        pad = b.new_page(viewport={"width": 1280, "height": 800})
        pad.clock.install()
        pad.goto(f"{base}/h/district/pad/1?device={pad_token}")
        expect(pad.locator("body")).to_have_attribute("data-connected", "1")
        _serve(clerk)
        expect(pad.locator("#rating-title")).to_contain_text(first["number"])
        # The next citizen is called to the window: the pad stops offering the first ticket.
        assert clerk.post(f"{HALL}/windows/1/call-next").status_code == 200
        expect(pad.get_by_test_id("rating-form")).to_be_hidden()
        expect(pad.get_by_test_id("pad-idle")).to_be_visible()
        pad.reload()  # nor does a reloaded pad offer it while the next one is at the window
        expect(pad.locator("body")).to_have_attribute("data-connected", "1")
        expect(pad.get_by_test_id("pad-idle")).to_be_visible()
        expect(pad.get_by_test_id("rating-form")).to_be_hidden()
        for action in ("start", "finish"):
            assert clerk.post(f"{HALL}/windows/1/{action}").status_code == 200
        expect(pad.locator("#rating-title")).to_contain_text(second["number"])
        # Nobody rates: after the hall's pad_rating_seconds (90) the offer ends.
        pad.clock.run_for(91_000)
        expect(pad.get_by_test_id("rating-form")).to_be_hidden()
        expect(pad.get_by_test_id("pad-idle")).to_be_visible()
        screenshot(pad, "pad-idle-after-offer")
    assert third["number"] != second["number"]


def test_kiosk_forgets_the_ticket_after_its_time_and_at_the_next_touch(app, redis_url):
    base = app.base_url
    kiosk_token = add_device(redis_url, Role.KIOSK)
    with browser() as b:
        kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.clock.install()
        kiosk.goto(f"{base}/h/district/kiosk?device={kiosk_token}")
        kiosk.click("[data-priority=elderly]")
        kiosk.click("[data-matter=QY-KB]")
        ticket = kiosk.get_by_test_id("kiosk-ticket")
        expect(ticket).to_be_visible()
        kiosk.clock.run_for(19_000)
        expect(ticket).to_be_visible()
        kiosk.clock.run_for(2_000)  # the hall's kiosk_reset_seconds: 20
        expect(ticket).to_be_hidden()
        expect(kiosk.locator("#t-qr")).not_to_have_attribute("src", "/")
        assert kiosk.locator("#t-qr").get_attribute("src") is None
        expect(kiosk.locator("[data-priority=none]")).to_have_attribute("aria-pressed", "true")

        kiosk.click("[data-matter=QY-KB]")
        expect(ticket).to_be_visible()
        kiosk.clock.run_for(3_000)
        kiosk.mouse.click(540, 1800)  # the next citizen touches the screen
        expect(ticket).to_be_hidden()
        expect(kiosk.locator("#choose")).to_be_visible()
        screenshot(kiosk, "kiosk-reset")


def test_keyboard_only_kiosk_keeps_focus_and_announces_the_number(app, redis_url):
    base = app.base_url
    kiosk_token = add_device(redis_url, Role.KIOSK)
    with browser() as b:
        kiosk = b.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.goto(f"{base}/h/district/kiosk?device={kiosk_token}&lang=en")
        kiosk.locator("[data-priority=none]").focus()
        kiosk.keyboard.press("Tab")  # to "Elderly"
        kiosk.keyboard.press("Enter")
        elderly = kiosk.locator("[data-priority=elderly]")
        expect(elderly).to_be_focused()  # the choice keeps focus
        expect(elderly).to_have_attribute("aria-pressed", "true")
        outline = elderly.evaluate("e => getComputedStyle(e).outlineWidth")
        assert outline == "4px"  # a visible focus ring
        tab = kiosk.locator("#tab-life_event")
        tab.focus()
        kiosk.keyboard.press("ArrowRight")  # tabs by arrow keys, state not by colour alone
        expect(kiosk.locator("#tab-department")).to_be_focused()
        expect(kiosk.locator("#tab-department")).to_have_attribute("aria-selected", "true")
        kiosk.locator("[data-matter=QY-KB]").focus()
        kiosk.keyboard.press("Enter")
        announce = kiosk.get_by_test_id("kiosk-announce")
        expect(announce).to_have_attribute("aria-live", "assertive")
        expect(announce).to_contain_text("Your number is A001")
        expect(kiosk.locator("#t-label")).to_be_focused()
        kiosk.keyboard.press("Tab")
        expect(kiosk.locator("#print")).to_be_focused()
        kiosk.keyboard.press("Tab")
        expect(kiosk.locator("#done")).to_be_focused()
        kiosk.keyboard.press("Enter")
        expect(kiosk.get_by_test_id("kiosk-ticket")).to_be_hidden()
        expect(kiosk.locator("#choose-title")).to_be_focused()
        expect(announce).to_have_text("")


def test_phone_does_not_say_near_while_no_window_serves_the_queue(app, redis_url):
    base = app.base_url
    ticket = _issue(base, add_device(redis_url, Role.KIOSK))
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    with browser() as b:
        phone = b.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{base}/h/district/t/{ticket['id']}?lang=zh")
        alert = phone.get_by_test_id("ticket-alert")
        expect(alert).to_have_attribute("data-kind", "not_served")
        assert clerk.post(f"{HALL}/windows/1/login").status_code == 200  # window 1 opens
        expect(alert).to_have_attribute("data-kind", "near")
