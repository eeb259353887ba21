"""An Editor shares one of the partner's connections into a customer organization from its
Connections page, in Chromium, on a wide screen and on a phone's."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from tests.browser.support import SCREENS, signed_in_as

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("screen", SCREENS, ids=lambda screen: str(screen["width"]))
def test_an_editor_shares_a_connection_from_the_organization_page(page: Page, sandbox, screenshot, screen):
    signed_in_as(page, "ed", role="Editor", screen=screen)
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
    screenshot(f"connections-{screen['width']}")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
