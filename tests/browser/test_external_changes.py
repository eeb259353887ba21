"""An Admin opens an organization a script changed behind the portal's back, in Chromium, on a wide
screen and on a phone's: its page says when and what, and the audit entry holds before and after."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import call_command
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID, PARTNER_KEY
from tests.browser.support import SCREENS, signed_in_as

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("screen", SCREENS, ids=lambda screen: str(screen["width"]))
def test_the_organization_page_says_what_changed_outside(page: Page, sandbox, screenshot, screen):
    call_command("notice_external_changes", stdout=io.StringIO())  # the first look: remembered as they are
    changed = requests.put(
        f"{sandbox.url}/api/organizations/{ACME_ID}",
        timeout=10,
        headers={"Authorization": f"Bearer {PARTNER_KEY}"},
        json={"name": "Acme Corporation", "sso_domain": "acme-elsewhere.example"},
    )
    changed.raise_for_status()
    signed_in_as(page, "ada", role="Admin", screen=screen)
    page.goto(f"/organizations/{ACME_ID}/")
    banner = page.locator("[data-external-change]")
    expect(banner).to_contain_text("Changed outside this portal on ")
    expect(banner).to_contain_text("SSO domain, SSO organization id.")
    screenshot(f"external-change-{screen['width']}")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    banner.get_by_role("link", name="What changed").click()
    expect(page.get_by_text("acme-elsewhere.example").first).to_be_visible()
    expect(page.get_by_role("heading", name="Changed outside this portal", level=1)).to_be_visible()
