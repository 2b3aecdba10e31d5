"""The hall board at 1920×1080 in both languages: one line per called number with its
latest recall, names that fit their boxes, hall notices a manager posts and withdraws live,
the clock in the hall's time zone, closed windows still readable."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from hall.auth import Role
from tests.e2e.live import (
    add_clerk,
    add_device,
    add_privileged,
    browser,
    clerk_session,
    privileged_token,
    screenshot,
)

pytestmark = pytest.mark.browser
HALL = "/api/halls/district"

OVERFLOWING = """selector => [...document.querySelectorAll(selector)]
  .filter((n) => n.scrollWidth > n.clientWidth + 1 || n.scrollHeight > n.clientHeight + 1)
  .map((n) => [n.textContent, n.scrollWidth, n.clientWidth, n.scrollHeight, n.clientHeight])"""
OUTSIDE = """() => [...document.querySelectorAll('.board *')].filter((n) => {
  const r = n.getBoundingClientRect();
  return r.width && (r.right > 1920.5 || r.bottom > 1080.5) && !n.closest('.notices');
}).map((n) => n.className || n.tagName)"""


def _manager(base: str, redis_url: str) -> httpx.Client:
    token = privileged_token(base, "mgr", add_privileged(redis_url, "mgr"))
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_board_one_line_per_call_names_fit_and_notices_live(app, redis_url, lang):
    base = app.base_url
    kiosk = {"Authorization": f"Bearer {add_device(redis_url, Role.KIOSK)}"}
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    manager = _manager(base, redis_url)
    assert clerk.post(f"{HALL}/windows/1/login").status_code == 200
    for _ in range(3):
        assert httpx.post(f"{base}{HALL}/tickets", json={"matter": "QY-KB"},
                          headers=kiosk).status_code == 201
    with browser() as b:
        board = b.new_page(viewport={"width": 1920, "height": 1080})
        board.goto(f"{base}/h/district/board?lang={lang}")
        expect(board.locator("body")).to_have_attribute("data-connected", "1")
        assert clerk.post(f"{HALL}/windows/1/call-next").status_code == 200  # A001
        assert clerk.post(f"{HALL}/windows/1/no-show").status_code == 200
        assert clerk.post(f"{HALL}/windows/1/call-next").status_code == 200  # A002
        for _ in range(8):  # eight recalls: still one line for A002, on top, counting
            assert clerk.post(f"{HALL}/windows/1/recall").status_code == 200
        latest = board.get_by_test_id("latest-call")
        expect(latest).to_have_attribute("data-calls", "9")
        expect(latest).to_have_attribute("data-number", "A002")
        expect(board.locator("#calls li")).to_have_count(1)
        expect(board.locator("#calls li[data-number=A001]")).to_be_visible()
        expect(board.locator("#latest-recall")).to_have_text("第 9 次呼叫" if lang == "zh"
                                                             else "call 9")

        # A manager posts a notice: every board shows it at once, in its language.
        posted = manager.post(f"{HALL}/notices", json={
            "text_zh": "今天下午三点起系统维护，社保业务暂停办理。",
            "text_en": "From 3 pm today social insurance services pause for maintenance."})
        assert posted.status_code == 201, posted.text
        notice = board.locator(f"[data-nid='{posted.json()['nid']}']")
        expect(notice).to_have_text(posted.json()[lang])
        expect(board.get_by_test_id("notices")).to_contain_text(
            "请走绿色通道" if lang == "zh" else "green channel")
        board.reload()  # a board that starts later shows it too
        expect(notice).to_be_visible()
        assert board.evaluate(OVERFLOWING, ".win-name, .wait-name, .call-name, .wait") == []
        assert board.evaluate(OUTSIDE) == []
        clock = board.locator("#clock").inner_text()
        assert any(ch.isdigit() for ch in clock)
        screenshot(board, f"board-{lang}")

        withdrawn = manager.delete(f"{HALL}/notices/{posted.json()['nid']}")
        assert withdrawn.status_code == 200
        expect(notice).to_have_count(0)
        again = manager.delete(f"{HALL}/notices/{posted.json()['nid']}")
        assert again.status_code == 404 and again.json()["error"]["code"] == "unknown_notice"
        assert httpx.post(f"{base}{HALL}/notices", json={"text_zh": "x"}).status_code == 401


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_window_screen_tells_called_from_serving(app, redis_url, lang):
    base = app.base_url
    kiosk = {"Authorization": f"Bearer {add_device(redis_url, Role.KIOSK)}"}
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    assert clerk.post(f"{HALL}/windows/1/login").status_code == 200
    assert httpx.post(f"{base}{HALL}/tickets", json={"matter": "QY-KB"},
                      headers=kiosk).status_code == 201
    with browser() as b:
        screen = b.new_page(viewport={"width": 1280, "height": 720})
        screen.goto(f"{base}/h/district/window/1?lang={lang}")
        expect(screen.locator("body")).to_have_attribute("data-connected", "1")
        label = screen.get_by_test_id("window-label")
        assert clerk.post(f"{HALL}/windows/1/call-next").status_code == 200
        expect(screen.get_by_test_id("window-current")).to_have_text("A001")
        calling = "请到本窗口办理" if lang == "zh" else "Please come to this window"
        expect(label).to_have_text(calling)
        screen.reload()  # a screen started later knows too
        expect(label).to_have_text(calling)
        screenshot(screen, f"window-called-{lang}")
        assert clerk.post(f"{HALL}/windows/1/start").status_code == 200
        expect(label).to_have_text("正在办理" if lang == "zh" else "Now serving")
        screenshot(screen, f"window-serving-{lang}")
        assert clerk.post(f"{HALL}/windows/1/finish").status_code == 200
        expect(label).to_have_text("")
        expect(screen.get_by_test_id("window-status")).to_have_text(
            "请稍候" if lang == "zh" else "Please wait")
