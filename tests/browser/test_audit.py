"""The audit log in Chromium: filter it, open an entry."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from devtools.sandbox import ACME_ID, GLOBEX_ID
from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


class AuditLogBrowserTests:
    def test_filter_the_log_and_open_an_entry(self, page, live_server, screenshot):
        make_user("ada", role="Admin")
        sign_in(page, "ada")
        for organization_id in (ACME_ID, GLOBEX_ID):  # leave a few calls in the log
            page.goto(f"/organizations/{organization_id}/")

        page.get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        rows = page.locator("#audit-results tbody tr")
        expect(rows).to_have_count(3)  # the list after sign-in, then one read per organization
        page.get_by_label("Action").select_option("organization.get")
        expect(rows).to_have_count(2)
        expect(page).to_have_url(re.compile(r"/audit/\?.*action=organization\.get"))
        screenshot("10-audit-log-filtered")
        expect(page.get_by_role("link", name="Export these entries as CSV")).to_have_attribute(
            "href", re.compile(r"/audit/export\.csv\?.*action=organization\.get")
        )

        rows.first.get_by_role("link").first.click()  # its time opens the entry
        expect(page.get_by_role("heading", name=re.compile("View organization"))).to_be_visible()
        expect(page.get_by_text(f"GET /api/organizations/{GLOBEX_ID}")).to_be_visible()
        screenshot("11-audit-entry")
        assert page.console.errors == []
