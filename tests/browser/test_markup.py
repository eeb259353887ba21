"""The stored-markup attack, replayed in Chromium: an organization named with htmx attributes
cannot make an Admin's browser act on another organization."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from devtools.sandbox import INITECH_ID, StoredOrganization
from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

BAIT_ID = "7a1f0c2e-0000-4000-8000-00000000ba17"
# The probe's name: on load, htmx would post the delete of Initech, with the CSRF header of <body>.
BAIT_NAME = (
    f'<div hx-post="/organizations/{INITECH_ID}/delete/" hx-trigger="load" '
    """hx-vals='{"confirm_name":"Initech"}'>.</div>"""
)


class StoredMarkupBrowserTests:
    @pytest.mark.parametrize("page_path", ["delete/", "", "edit/"])
    def test_opening_a_hostile_organization_sends_nothing(self, page, sandbox, page_path):
        with sandbox.sandbox.lock:
            sandbox.sandbox.organizations[BAIT_ID] = StoredOrganization(BAIT_ID, "partner", BAIT_NAME)
        make_user("ada", role="Admin")
        sign_in(page, "ada")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()

        page.goto(f"/organizations/{BAIT_ID}/{page_path}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(BAIT_NAME)  # shown as text
        assert page.locator("[hx-post*='/delete/'], [hx-trigger='load']").count() == 0
        page.wait_for_load_state("networkidle")

        assert [r for r in sandbox.sandbox.received if r["method"] == "DELETE"] == []
        assert INITECH_ID in sandbox.sandbox.organizations
        assert page.console.errors == []
