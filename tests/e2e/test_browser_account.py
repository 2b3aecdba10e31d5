"""The account page in a real browser: a first login with a given password marked to be
changed must change it; a new manager opens their set-up link (the token leaves the
address bar at once and works once), sets a password, then the second factor by QR code
and gets recovery codes; an admin resets an account and sees its new set-up link once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hall.auth import Role
from tests.e2e.live import PASSWORD, _auth, add_privileged, browser, enrol_second_factor, screenshot
from tests.support import AppProcess

pytestmark = pytest.mark.browser


def test_first_login_then_second_factor_then_admin(app: AppProcess, redis_url: str) -> None:
    base = app.base_url
    _auth(redis_url, lambda a: a.add_user("district-S01", PASSWORD, Role.CLERK, ("district",),
                                          "S01", must_change=True))
    _auth(redis_url, lambda a: a.add_user("boss", None, Role.MANAGER, ("district",)))
    token, _ = _auth(redis_url, lambda a: a.open_setup("boss"))
    admin_totp = add_privileged(redis_url, "root", Role.ADMIN)
    with browser() as b:
        page = b.new_page()
        page.goto(f"{base}/account?lang=en")
        page.fill("#signin-form input[name=username]", "district-S01")
        page.fill("#signin-form input[name=password]", PASSWORD)
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#password-pending")).to_be_visible()
        page.fill("#password-form input[name=current]", PASSWORD)
        page.fill("#password-form input[name=new]", "password1234")
        page.click("#password-form button[type=submit]")
        expect(page.locator("#account-error")).to_contain_text("too weak")
        page.fill("#password-form input[name=current]", PASSWORD)
        page.fill("#password-form input[name=new]", "my own good passphrase")
        page.click("#password-form button[type=submit]")
        expect(page.locator("#account-note")).to_contain_text("Password changed")
        expect(page.locator("#password-pending")).to_be_hidden()
        page.click("#logout")

        page.goto(f"{base}/account?lang=en#setup={token}")
        expect(page.get_by_test_id("setup-for")).to_contain_text("boss")
        assert token not in page.url and "#" not in page.url  # out of the address bar
        page.fill("#setup-form input[name=password]", "boss-password")  # short, and common
        page.click("#setup-form button[type=submit]")
        expect(page.locator("#account-error")).to_be_visible()
        page.fill("#setup-form input[name=password]", "the manager's own passphrase")
        page.click("#setup-form button[type=submit]")
        expect(page.locator("#totp")).to_be_visible()  # signed in; a manager enrols TOTP
        expect(page.locator("#setup")).to_be_hidden()
        enrol_second_factor(page)
        screenshot(page, "account-recovery-codes")
        page.click("#logout")
        # the link worked once: opened again, it says so and offers to sign in
        page.goto(f"{base}/account?lang=en#setup={token}")
        expect(page.locator("#account-error")).to_contain_text("set-up link")
        expect(page.locator("#signin")).to_be_visible()

        page.fill("#signin-form input[name=username]", "root")
        page.fill("#signin-form input[name=password]", PASSWORD)
        page.fill("#signin-form input[name=code]", admin_totp.now())
        page.click("#signin-form button[type=submit]")
        row = page.locator("#users tr", has_text="district-S01")
        row.get_by_role("button", name="Reset password").click()
        note = page.locator("#account-note")
        expect(note).to_contain_text("Set-up link of district-S01")
        assert f"{base}/account#setup=" in note.inner_text()
        screenshot(page, "account-admin")
