"""An Editor shares one of the partner's connections into a customer organization from its
Connections page, in Chromium, on a wide screen and on a phone's."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_an_editor_shares_a_connection_from_the_organization_page(page: Page, sandbox, screenshot, width, height):
    make_user("ed", role="Editor")
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, "ed")
    page.goto(f"/organizations/{ACME_ID}/")
    page.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connections of Acme Corporation", level=1)).to_be_visible()
    crm = page.get_by_role("row").filter(has_text="Sales CRM")
    expect(crm).to_contain_text("Not shared")

    page.get_by_label("Sales CRM (Salesforce)").check()
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_text("Shared Sales CRM.")).to_be_visible()
    expect(crm).to_contain_text("Shared")
    expect(crm).not_to_contain_text("Not shared")
    screenshot(f"connections-{width}")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
