"""The page shell in a real browser: sign-in, the CSP holding with htmx loaded, keyboard use."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


class ShellBrowserTests:
    def test_sign_in_see_role_and_sign_out(self, page, live_server):
        make_user("ed", role="Editor")
        sign_in(page, "ed")

        expect(page).to_have_url(f"{live_server.url}/organizations/")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        expect(page.get_by_title("Your role")).to_have_text("Editor")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
            ["Organizations", "Onboarding"]
        )

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{live_server.url}/accounts/login/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    def test_htmx_runs_under_the_policy_without_violations(self, page):
        make_user("ada", role="Admin")
        sign_in(page, "ada")
        expect(page.get_by_role("link", name="Audit log")).to_be_visible()

        assert page.evaluate("typeof htmx") == "object"
        # The htmx-config meta is read: htmx would otherwise inject an inline <style> the CSP blocks.
        assert page.evaluate("htmx.config.includeIndicatorStyles") is False
        assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor") == (
            "rgb(20, 26, 38)"
        )
        page.get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        assert page.console.errors == []

    def test_keyboard_reaches_the_skip_link_first(self, page, live_server):
        make_user("vera", role="Viewer")
        page.goto("/accounts/login/")
        expect(page.get_by_label("Username")).to_be_focused()
        sign_in(page, "vera")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live_server.url}/organizations/#main")
        expect(page.locator("main")).to_be_focused()

    def test_wrong_password_keeps_the_username(self, page):
        make_user("vera", role="Viewer")
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("vera")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("The username and/or password you specified are not correct.")).to_be_visible()
        expect(page.get_by_label("Username")).to_have_value("vera")
        assert page.console.errors == []
