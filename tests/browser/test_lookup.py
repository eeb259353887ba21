"""A support engineer pastes an id from a customer's email into the header's box, in Chromium, on a
wide screen and on a phone's, and lands on what it is and whose."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from tests.browser.support import SCREENS, signed_in_as
from tests.test_authorization_matrix import ANALYST_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("screen", SCREENS, ids=lambda screen: str(screen["width"]))
def test_a_viewer_finds_whose_a_user_id_is_from_the_header(page: Page, sandbox, screenshot, screen):
    signed_in_as(page, "vera", role="Viewer", screen=screen)
    expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
    if screen["width"] < 640:  # on a phone the box is in the header's menu
        page.get_by_text("Menu", exact=True).click()
    box = page.get_by_role("searchbox", name="Find a Polytomic id")
    box.fill(ANALYST_ID)
    box.press("Enter")

    expect(page.get_by_role("heading", name=re.compile(r"^User .* in Acme Corporation$"), level=2)).to_be_visible()
    screenshot(f"find-an-id-{screen['width']}")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.get_by_role("link", name="Open Acme Corporation").click()
    expect(page).to_have_url(f"/organizations/{ACME_ID}/")
    expect(page.get_by_role("heading", name="Acme Corporation", level=1)).to_be_visible()


def test_text_that_is_no_id_is_refused_on_the_page(page: Page, sandbox):
    signed_in_as(page, "vera", role="Viewer")
    page.goto("/find/?id=sync+3f2a")
    expect(page.get_by_text("That is not a Polytomic id")).to_be_visible()
    expect(page.get_by_label("Polytomic id", exact=True)).to_have_value("sync 3f2a")
