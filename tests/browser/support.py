"""What the browser tests share."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import PASSWORD


def sign_in(page, username: str) -> None:
    page.goto("/organizations/")
    expect(page).to_have_url("/accounts/login/?next=/organizations/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
