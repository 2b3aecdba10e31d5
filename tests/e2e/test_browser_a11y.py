"""Every page at its intended size, in both languages and its main states, in a real
browser: axe-core finds no WCAG 2.1 AA violation; no text of the other language is shown
(outside proper names marked with their own ``lang``); nothing runs past its box; a
screenshot of each is saved under test-artifacts/a11y/."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from hall.auth import Role
from tests.e2e.axe import axe_violations, cut_off, wrong_language
from tests.e2e.live import (
    ARTIFACTS,
    PASSWORD,
    add_clerk,
    add_device,
    add_privileged,
    browser,
    clerk_session,
    privileged_token,
)

pytestmark = pytest.mark.browser
HALL = "/api/halls/district"
PHONE = {"width": 390, "height": 844}
SIZES = {"board": (1920, 1080), "window": (1280, 720), "kiosk": (1080, 1920),
         "clerk": (1440, 900), "pad": (1280, 800), "index": (1280, 800)}


class Audit:
    """Checks a page in one state and remembers every problem by state."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.problems: dict[str, list[str]] = {}
        (ARTIFACTS / "a11y").mkdir(parents=True, exist_ok=True)

    def check(self, page: Any, state: str) -> None:
        page.wait_for_timeout(150)  # let a re-render triggered by the last event finish
        found = [*axe_violations(page), *(f"wrong language: {t}" for t in wrong_language(page)),
                 *(f"cut off: {c}" for c in cut_off(page))]
        page.screenshot(path=str(ARTIFACTS / "a11y" / f"{state}-{self.lang}.png"))
        if found:
            self.problems[state] = found


def _new(b: Any, size: tuple[int, int] | dict[str, int], mobile: bool = False) -> Any:
    viewport = size if isinstance(size, dict) else {"width": size[0], "height": size[1]}
    context = b.new_context(viewport=viewport, is_mobile=mobile, bypass_csp=True,
                            reduced_motion="reduce")
    return context.new_page()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_is_accessible_in_its_language_and_fits(app, redis_url, lang):
    base = app.base_url
    q = f"?lang={lang}"
    audit = Audit(lang)
    totp = add_privileged(redis_url, "mgr")
    kiosk_token = add_device(redis_url, Role.KIOSK)
    pad_token = add_device(redis_url, Role.PAD, window=1)
    kiosk = {"Authorization": f"Bearer {kiosk_token}"}
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    clerk_user = add_clerk(redis_url, "S06")
    assert clerk.post(f"{HALL}/windows/1/login").status_code == 200

    def issue(matter: str = "QY-KB") -> dict[str, Any]:
        r = httpx.post(f"{base}{HALL}/tickets", json={"matter": matter}, headers=kiosk)
        assert r.status_code == 201
        return dict(r.json())

    done, called, waiting, cancelled = issue(), issue(), issue(), issue()
    issue("SB-CB")
    token = privileged_token(base, "poster", add_privileged(redis_url, "poster"))
    manager = httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {token}"})
    assert manager.post(f"{HALL}/notices", json={
        "text_zh": "今天下午三点起系统维护。", "text_en": "System maintenance from 3 pm today."
    }).status_code == 201

    with browser() as b:
        page = _new(b, SIZES["index"])
        page.goto(f"{base}/{q}")
        audit.check(page, "index")
        page.goto(f"{base}/h/nowhere/board{q}")
        audit.check(page, "error-404")

        pad = _new(b, SIZES["pad"])
        pad.goto(f"{base}/h/district/pad/1{q}&device={pad_token}")
        expect(pad.locator("body")).to_have_attribute("data-connected", "1")
        audit.check(pad, "pad-idle")
        for action in ("call-next", "start", "finish"):
            assert clerk.post(f"{HALL}/windows/1/{action}").status_code == 200
        expect(pad.get_by_test_id("rating-form")).to_be_visible()
        pad.click("[data-level=satisfied]")
        audit.check(pad, "pad-rating")

        phone = _new(b, PHONE, mobile=True)
        phone.goto(f"{base}/h/district/t/{done['id']}{q}")
        expect(phone.get_by_test_id("rating-form")).to_be_visible()
        audit.check(phone, "phone-done-rating")
        rated = httpx.post(f"{base}{HALL}/tickets/{done['id']}/rating",  # a case to handle
                           json={"level": "very_dissatisfied", "comment": "等了很久"})
        assert rated.status_code == 201

        assert clerk.post(f"{HALL}/windows/1/call-next").status_code == 200  # `called`
        phone.goto(f"{base}/h/district/t/{called['id']}{q}")
        expect(phone.get_by_test_id("ticket-alert")).to_have_attribute("data-kind", "called")
        audit.check(phone, "phone-called")
        phone.goto(f"{base}/h/district/t/{waiting['id']}{q}")
        expect(phone.get_by_test_id("ticket-status")).not_to_be_empty()
        phone.click("#cancel")
        audit.check(phone, "phone-waiting-cancel-confirm")
        assert httpx.post(f"{base}{HALL}/tickets/{cancelled['id']}/cancel").status_code == 200
        phone.goto(f"{base}/h/district/t/{cancelled['id']}{q}")
        expect(phone.get_by_test_id("way-back")).to_be_visible()
        audit.check(phone, "phone-cancelled")

        phone.goto(f"{base}/h/district/book{q}")  # the booking page (issue 13)
        expect(phone.locator("main")).to_be_visible()
        phone.wait_for_timeout(300)
        audit.check(phone, "phone-book")

        board = _new(b, SIZES["board"])
        board.goto(f"{base}/h/district/board{q}")
        expect(board.get_by_test_id("latest-call")).to_have_attribute("data-number",
                                                                      called["number"])
        audit.check(board, "board")
        screen = _new(b, SIZES["window"])
        screen.goto(f"{base}/h/district/window/1{q}")
        expect(screen.get_by_test_id("window-current")).to_have_text(called["number"])
        audit.check(screen, "window-called")
        screen.goto(f"{base}/h/district/window/7{q}")
        expect(screen.get_by_test_id("window-status")).not_to_be_empty()
        audit.check(screen, "window-closed")

        kiosk_page = _new(b, SIZES["kiosk"])
        kiosk_page.goto(f"{base}/h/district/kiosk{q}")  # no device token yet
        expect(kiosk_page.locator("#error")).to_be_visible()
        audit.check(kiosk_page, "kiosk-unregistered")
        kiosk_page.goto(f"{base}/h/district/kiosk{q}&device={kiosk_token}")
        kiosk_page.goto(f"{base}/h/district/checkin{q}")  # booking check-in at the kiosk
        expect(kiosk_page.locator("main")).to_be_visible()
        audit.check(kiosk_page, "kiosk-checkin")
        kiosk_page.goto(f"{base}/h/district/kiosk{q}")
        kiosk_page.click("[data-priority=elderly]")
        # the list scrolls inside the screen, with a hint, instead of running past it
        assert kiosk_page.evaluate("document.documentElement.scrollHeight") <= 1920
        expect(kiosk_page.locator("#more-hint")).to_be_visible()
        audit.check(kiosk_page, "kiosk-choose")
        kiosk_page.click("[data-matter=QY-KB]")
        expect(kiosk_page.get_by_test_id("kiosk-ticket")).to_be_visible()
        expect(kiosk_page.locator("#t-qr")).to_have_js_property("complete", True)
        audit.check(kiosk_page, "kiosk-issued")

        console = _new(b, SIZES["clerk"])
        console.goto(f"{base}/h/district/clerk{q}")
        audit.check(console, "clerk-login")
        console.fill("input[name=username]", clerk_user)
        console.fill("input[name=password]", PASSWORD)
        console.keyboard.press("Enter")
        expect(console.locator("#window-select")).to_be_visible()
        audit.check(console, "clerk-pick")
        console.keyboard.press("Enter")
        expect(console.locator("#console")).to_be_visible()
        console.keyboard.press("r")
        expect(console.get_by_test_id("clerk-error")).to_be_visible()
        audit.check(console, "clerk-refused")
        console.keyboard.press("n")
        expect(console.get_by_test_id("clerk-current")).not_to_have_text("—")
        audit.check(console, "clerk-serving")

        dash = _new(b, (1366, 768))
        dash.goto(f"{base}/h/district/dashboard{q}")
        audit.check(dash, "dashboard-login-1366")
        dash.fill("input[name=username]", "mgr")
        dash.fill("input[name=password]", PASSWORD)
        dash.fill("input[name=code]", totp.now())  # a code is good once: one log-in, four sizes
        dash.click("#login-form button[type=submit]")
        expect(dash.get_by_test_id("queues")).to_contain_text("A")
        for width, height in ((1366, 768), (1440, 900), (1600, 900), (1920, 1080)):
            dash.set_viewport_size({"width": width, "height": height})
            dash.goto(f"{base}/h/district/dashboard{q}")
            expect(dash.get_by_test_id("queues")).to_contain_text("A")
            expect(dash.locator("body")).to_have_attribute("data-connected", "1")
            expect(dash.get_by_test_id("notices-admin")).to_be_visible()
            expect(dash.locator("#cases .case")).to_have_count(1)
            audit.check(dash, f"dashboard-{width}")
            if width in (1366, 1920):
                dash.goto(f"{base}/city{q}")
                expect(dash.get_by_test_id("halls")).not_to_be_empty()
                audit.check(dash, f"city-{width}")

    assert not audit.problems, "\n".join(f"{state}: {p}" for state, found in audit.problems.items()
                                          for p in found)
