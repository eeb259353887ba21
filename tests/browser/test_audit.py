"""The audit log in Chromium: filter it, open an entry."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID
from tests.browser.support import sign_in
from tests.factories import make_user
from tests.test_views_audit import add_entry, add_write

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
        expect(page.get_by_text("No call to Polytomic matches these filters.")).to_be_visible()  # reads only
        page.get_by_label("Include reads").check()
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


def _globex_history() -> None:
    """A day of Globex and Acme in the log: views around an editor's rename of Globex, and an
    invite into Globex, which names it by its id alone."""
    globex = {"organization_id": GLOBEX_ID, "organization_name": "Globex"}
    for minute in range(0, 20, 2):
        add_entry(minute, actor_username="victor", **globex)
        add_entry(minute + 1, actor_username="victor", organization_id=ACME_ID, organization_name="Acme")
    add_write(10.5, outcome_after=0.1, actor_username="eve", **globex)
    add_write(11.5, outcome_after=0.1, actor_username="eve", organization_id=ACME_ID, organization_name="Acme")
    add_entry(12.5, actor_username="eve", action=AuditEntry.Action.USER_INVITE, method="POST",
              organization_id=GLOBEX_ID, organization_name="")  # fmt: skip


class WhoChangedGlobexBrowserTests:
    """A support engineer (the audit log is the Admins') looks for who changed Globex, by its name."""

    @pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
    def test_find_who_changed_globex_by_its_name(self, page, live_server, screenshot, width, height):
        make_user("sam", role="Admin")
        _globex_history()
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, "sam")
        page.goto("/audit/")
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()

        name = page.get_by_label("Organization name")
        name.focus()  # the field asks for the names the log holds
        expect(page.locator("#organization-names option")).to_have_count(2)
        name.fill("glo")
        expect(page.locator("#organization-names option")).to_have_count(1)
        expect(page.locator('#organization-names option[value="Globex"]')).to_have_count(1)
        name.fill("globex")
        name.press("Enter")
        expect(page).to_have_url(re.compile(r"/audit/\?.*organization_name=globex"))
        rows = page.locator("#audit-results tbody tr")
        # Its changes alone, newest first: the invite (named by id, shown by name), then the rename.
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("Invite a user")
        expect(rows.nth(1)).to_contain_text("Update organization")
        for row in (rows.nth(0), rows.nth(1)):
            expect(row).to_contain_text("eve")
            expect(row.get_by_role("link", name="Globex")).to_be_visible()
        expect(page.get_by_text("Changes only:")).to_be_visible()
        screenshot(f"audit-who-changed-globex-{width}")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")

        # Eve's other changes, Globex's filter dropped only where a link sets the same filter.
        rows.nth(1).get_by_role("link", name="eve").click()
        expect(page).to_have_url(re.compile(r"organization_name=globex.*actor=eve"))
        expect(rows).to_have_count(2)
        # A name in the log matching nothing says so, and how to find it.
        name.fill("Globx")
        name.press("Enter")
        expect(
            page.get_by_role("heading", name="No organization in the log has a name containing “Globx”")
        ).to_be_visible()
        expect(rows).to_have_count(0)
        screenshot(f"audit-name-not-found-{width}")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert page.console.errors == []
