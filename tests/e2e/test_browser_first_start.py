"""The README's first start in a real browser: ``hall serve`` on a fresh data folder writes
set-up links (no password); the admin opens theirs exactly as written, chooses a password,
enrols the second factor and sees every account; a clerk's link signs the clerk in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.live import browser, enrol_second_factor, screenshot
from tests.support import first_run

pytestmark = pytest.mark.browser


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh ``hall serve`` (embedded Redis, no worker): its address and the text of its
    first start's credentials file."""
    with first_run(tmp_path, worker=False) as (base, data, _):
        yield base, (data / "initial-credentials.txt").read_text(encoding="utf-8")


def test_first_start_admin_and_clerk_use_their_setup_links(
        first_start: tuple[str, str]) -> None:
    base, credentials = first_start
    links = dict(re.findall(r"(\S+)  set-up link: (\S+)", credentials))
    assert "password:" not in credentials
    assert links["admin"].startswith(f"{base}/account#setup="), links["admin"]
    with browser() as b:
        page = b.new_context().new_page()
        page.goto(links["admin"])  # the line of the file, as written
        expect(page.get_by_test_id("setup-for")).to_contain_text("admin")
        assert "#" not in page.url  # the token left the address bar
        page.fill("#setup-form input[name=password]", "a long and private phrase of mine")
        page.click("#setup-form button[type=submit]")
        expect(page.locator("#totp")).to_be_visible()  # an admin enrols a second factor
        enrol_second_factor(page)
        page.reload()
        expect(page.locator("#users tr", has_text="district-S01")).to_be_visible()
        screenshot(page, "first-start-admin")

        clerk = b.new_context().new_page()
        clerk.goto(links["district-S01"])
        expect(clerk.get_by_test_id("setup-for")).to_contain_text("district-S01")
        clerk.fill("#setup-form input[name=password]", "the clerk's own passphrase")
        clerk.click("#setup-form button[type=submit]")
        expect(clerk.get_by_test_id("me")).to_be_visible()
        # the link worked once
        clerk.goto(links["district-S01"])
        expect(clerk.locator("#account-error")).to_contain_text("设置链接")  # Chinese by default
    # the chosen password signs the clerk in; the link's token is no password
    r = httpx.post(f"{base}/api/login", json={"username": "district-S01",
                                               "password": "the clerk's own passphrase"})
    assert r.status_code == 200, r.text
