"""Ending a staff member's sessions in Chromium: an Admin asks, confirms, and the member's own
browser lands on the sign-in page, told why."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_ends_a_members_sessions_after_confirming(page: Page, browser, live_server, sandbox, screenshot):
    make_user("vera", role="Viewer", email="vera@example.com")
    make_user("ada", role="Admin")
    sign_in(page, "vera")
    expect(page).to_have_url("/organizations/")

    admin = browser.new_context(base_url=live_server.url).new_page()
    sign_in(admin, "ada")
    admin.goto("/staff/")
    row = admin.get_by_role("row").filter(has_text="vera@example.com")
    expect(row).to_contain_text("1 session")
    expect(row).to_contain_text("Chrome on Linux at 127.0.0.1, last used")
    row.get_by_role("link", name="End sessions").click()
    expect(admin.get_by_role("heading", name="End the sessions of vera?")).to_be_visible()

    page.reload()  # asking ended nothing
    expect(page).to_have_url("/organizations/")

    admin.get_by_role("button", name="End 1 session").click()
    expect(admin.get_by_text("Ended 1 session of vera.")).to_be_visible()

    page.reload()
    expect(page).to_have_url("/accounts/login/?next=/organizations/")
    expect(page.get_by_text("You were signed out: ada, an Admin, ended your sessions.")).to_be_visible()
    screenshot("61-signed-out-told-why")
    page.reload()  # told once
    expect(page.get_by_text("You were signed out")).to_have_count(0)
    assert page.console.errors == []
