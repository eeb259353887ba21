"""What the browser tests share."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import PASSWORD, make_user

# The two screens a journey is walked on: a laptop's, and a phone's.
SCREENS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


def sign_in(page, username: str) -> None:
    page.goto("/organizations/")
    expect(page).to_have_url("/accounts/login/?next=/organizations/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def signed_in_as(page, username: str, *, role: str, screen: dict | None = None) -> None:
    """A new member of staff with `role`, signed in, on `screen` (a viewport size) when given."""
    make_user(username, role=role)
    if screen is not None:
        page.set_viewport_size(screen)
    sign_in(page, username)
