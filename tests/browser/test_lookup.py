"""A support engineer pastes an id from a customer's email into the header's box, in Chromium, on a
wide screen and on a phone's, and lands on what it is and whose."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from tests.browser.support import sign_in
from tests.factories import make_user
from tests.test_authorization_matrix import ANALYST_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_a_viewer_finds_whose_a_user_id_is_from_the_header(page: Page, sandbox, screenshot, width, height):
    make_user("vera", role="Viewer")
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, "vera")
    expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
    if width < 640:  # on a phone the box is in the header's menu
        page.get_by_text("Menu", exact=True).click()
    box = page.get_by_role("searchbox", name="Find a Polytomic id")
    box.fill(ANALYST_ID)
    box.press("Enter")

    expect(page.get_by_role("heading", name=re.compile(r"^User .* in Acme Corporation$"), level=2)).to_be_visible()
    screenshot(f"find-an-id-{width}")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    page.get_by_role("link", name="Open Acme Corporation").click()
    expect(page).to_have_url(f"/organizations/{ACME_ID}/")
    expect(page.get_by_role("heading", name="Acme Corporation", level=1)).to_be_visible()


def test_text_that_is_no_id_is_refused_on_the_page(page: Page, sandbox):
    make_user("vera", role="Viewer")
    sign_in(page, "vera")
    page.goto("/find/?id=sync+3f2a")
    expect(page.get_by_text("That is not a Polytomic id")).to_be_visible()
    expect(page.get_by_label("Polytomic id", exact=True)).to_have_value("sync 3f2a")
