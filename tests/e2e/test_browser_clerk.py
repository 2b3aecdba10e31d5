"""The clerk console in a real browser, keyboard only, in both languages: only the windows
the clerk is rostered for are offered; every refusal reads as a sentence in the console's
language (never the API's English); focus lands on each step's first control."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Route, expect

from hall.auth import Role
from tests.e2e.live import PASSWORD, add_clerk, add_device, browser, screenshot

pytestmark = pytest.mark.browser
HALL = "/api/halls/district"
REFUSALS = {
    "zh": {"login": "用户名或密码不正确，请重新输入。",
           "recall": "6 号窗口当前没有号码。",
           "paused": "6 号窗口现在没有开放，不能叫号；请先恢复服务。"},
    "en": {"login": "Wrong user name or password. Please try again.",
           "recall": "Window 6 has no number at the moment.",
           "paused": "Window 6 is not open, so it cannot call. Resume service first."},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_keyboard_only_clerk_sees_rostered_windows_and_refusals_in_its_language(
        app, redis_url, lang):
    base = app.base_url
    username = add_clerk(redis_url, "S06")  # rostered for windows 6 and 12
    kiosk = {"Authorization": f"Bearer {add_device(redis_url, Role.KIOSK)}"}
    assert httpx.post(f"{base}{HALL}/tickets", json={"matter": "SB-CB"},
                      headers=kiosk).status_code == 201
    with browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 900})
        # The route that will hold the pause's answer is in place from the start (one CI run
        # saw no pause held when the route was added just before the key press); until the
        # test asks, it lets the pause through.
        hold_pause = False
        held: list[Route] = []

        def pause_route(route: Route) -> None:
            if hold_pause:
                held.append(route)
            else:
                route.continue_()

        page.route("**/windows/6/pause", pause_route)
        page.goto(f"{base}/h/district/clerk?lang={lang}")
        expect(page.locator("input[name=username]")).to_be_focused()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        page.keyboard.type("wrong password")
        page.keyboard.press("Enter")
        error = page.get_by_test_id("clerk-error")
        expect(error).to_have_text(REFUSALS[lang]["login"])
        page.fill("input[name=password]", PASSWORD)  # the field has focus: typing replaces it
        expect(page.locator("input[name=password]")).to_be_focused()
        page.keyboard.press("Enter")

        select = page.locator("#window-select")
        expect(select).to_be_focused()
        assert select.locator("option").evaluate_all("os => os.map(o => o.value)") == ["6", "12"]
        screenshot(page, f"clerk-pick-{lang}")
        page.keyboard.press("Enter")
        expect(page.locator("#console")).to_be_visible()
        expect(page.locator("#actions button[data-action=call-next]")).to_be_focused()

        page.keyboard.press("r")  # nothing to recall: a sentence, in the console's language
        expect(error).to_have_text(REFUSALS[lang]["recall"])
        # The pause's answer is held back while the clerk already presses "call next": the
        # console sends the call only once the pause is done, so it is refused as paused.
        hold_pause = True
        page.keyboard.press("p")
        page.keyboard.press("n")
        deadline = time.monotonic() + 10
        while not held:
            assert time.monotonic() < deadline, (
                "the console sent no pause; it shows: "
                f"{page.locator('#cur-detail').inner_text()!r} / {error.inner_text()!r}")
            page.wait_for_timeout(20)
        hold_pause = False
        held[0].continue_()
        expect(error).to_have_text(REFUSALS[lang]["paused"])
        screenshot(page, f"clerk-refused-{lang}")
        page.keyboard.press("p")
        page.keyboard.press("n")
        expect(page.get_by_test_id("clerk-current")).to_have_text("B001")
        expect(error).to_be_hidden()
        page.keyboard.press("s")
        expect(page.locator("#cur-number")).to_have_attribute("data-status", "serving")
        page.keyboard.press("f")
        expect(page.get_by_test_id("clerk-current")).to_have_text("—")
        screenshot(page, f"clerk-console-{lang}")
