"""An operator's journey through the organization pages in Chromium, against the sandbox."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import GLOBEX_ID
from tests.browser.support import sign_in
from tests.factories import make_user
from tests.support import audit_refuses_inserts

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "browser-secret-5c4b3a"


@pytest.fixture
def admin_page(page: Page, live_server) -> Page:
    make_user("ada", role="Admin")
    sign_in(page, "ada")
    expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
    return page


def field_error(page: Page, field_id: str):
    """The error list Django renders for a field, tied to it by aria-describedby."""
    return page.locator(f"#{field_id}_error")


class OrganizationJourneyTests:
    def test_create_rename_keep_and_remove_oidc_then_delete(self, admin_page, sandbox, screenshot):
        page = admin_page
        screenshot("01-organization-list")

        # Create an organization with OIDC.
        page.get_by_role("link", name="New organization").click()
        page.get_by_label("Name").fill("Hooli")
        page.get_by_label("SSO domain").fill("hooli.example")
        page.get_by_label("Issuer URL").fill("https://hooli.okta.example")
        page.get_by_label("Client id").fill("hooli-client")
        page.get_by_label("Client secret").fill(SECRET)
        screenshot("02-create-form")
        page.get_by_role("button", name="Create organization").click()
        # The issuer (not resolvable here) fails the form's check: saved anyway, the secret kept by htmx.
        expect(page.get_by_role("heading", name="The issuer check found a problem")).to_be_visible()
        page.get_by_label("Save anyway: I have checked this issuer with the customer").check()
        page.get_by_role("button", name="Create organization").click()
        expect(page.get_by_role("heading", name="Hooli", level=1)).to_be_visible()
        expect(page.get_by_text("Created Hooli.")).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile(r"^OIDC\s+Configured"))).to_be_visible()
        screenshot("03-detail-with-oidc")

        # Rename, keeping OIDC: the client id is remembered, the secret is entered again.
        page.get_by_role("link", name="Edit").click()
        expect(page.get_by_label("Client id")).to_have_value("hooli-client")
        expect(page.get_by_label("Client secret")).to_have_value("")
        page.get_by_label("Name").fill("Hooli XYZ")
        page.get_by_label("Client secret").fill(SECRET)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Hooli XYZ", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile(r"^OIDC\s+Configured"))).to_be_visible()

        # Saving without the secret is stopped, with the reason under the field.
        page.get_by_role("link", name="Edit").click()
        page.get_by_label("Name").fill("Hooli Holdings")
        page.get_by_role("button", name="Save").click()
        expect(field_error(page, "id_client_secret")).to_contain_text("Enter it again to keep OIDC (see above)")
        expect(page.get_by_text("must be entered again to keep OIDC working")).to_have_count(1)  # said once
        expect(page.get_by_label("Name")).to_have_value("Hooli Holdings")
        screenshot("04-edit-secret-required")

        # Removing OIDC is deliberate: chosen, summarised, confirmed.
        page.get_by_label("Remove OIDC").check()
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("OIDC will be removed.")).to_be_visible()
        screenshot("05-remove-oidc-summary")
        page.get_by_role("button", name="Confirm and save").click()
        expect(page.get_by_role("heading", name="Hooli Holdings", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name=re.compile(r"^OIDC\s+Off"))).to_be_visible()
        removed = next(
            r for r in sandbox.sandbox.received if r["method"] == "PUT" and r["body"]["name"] == "Hooli Holdings"
        )
        assert "issuer" not in removed["body"]  # left out, and so cleared

        # Delete through the typed confirmation.
        page.get_by_role("link", name="Delete").click()
        page.get_by_label("Type the organization's name to confirm").fill("Hooli Holdings")
        screenshot("06-delete-confirmation")
        page.get_by_role("button", name="Delete organization").click()
        expect(page.get_by_text("Deleted Hooli Holdings.")).to_be_visible()
        expect(page.get_by_role("link", name="Hooli Holdings")).to_have_count(0)
        screenshot("07-after-delete")
        assert page.console.errors == []

    def test_a_taken_name_shows_under_the_name_field(self, admin_page, screenshot):
        page = admin_page
        page.goto("/organizations/new/")
        page.get_by_label("Name").fill("globex")
        page.get_by_role("button", name="Create organization").click()
        expect(field_error(page, "id_name")).to_contain_text("An organization with this name already exists.")
        expect(page.get_by_label("Name")).to_have_value("globex")
        screenshot("08-taken-name")
        assert page.console.errors == []

    def test_with_the_audit_log_down_nothing_is_sent_and_the_input_stays(self, admin_page, sandbox, screenshot):
        page = admin_page
        page.goto("/organizations/new/")
        page.get_by_label("Name").fill("Unrecorded Co")
        with audit_refuses_inserts(phase="attempt"):
            page.get_by_role("button", name="Create organization").click()
            expect(page.get_by_text("The audit log is unavailable, so nothing was sent to Polytomic.")).to_be_visible()
        expect(page.get_by_label("Name")).to_have_value("Unrecorded Co")
        screenshot("09-audit-log-unavailable")
        assert not [r for r in sandbox.sandbox.received if r["method"] == "POST"]
        assert page.console.errors == []  # a page, not an error, as the status policy has it

    def test_the_summary_keeps_the_typed_secret(self, admin_page, sandbox):
        page = admin_page
        page.goto(f"/organizations/{GLOBEX_ID}/edit/")
        page.get_by_label("Client id").fill("0oa-globex-client")
        page.get_by_label("Client secret").fill(SECRET)
        page.get_by_label("SSO domain").fill("globex.test")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("SSO domain: “globex.example” → “globex.test”")).to_be_visible()
        expect(page.get_by_label("Client secret")).to_have_value(SECRET)  # kept in the browser, never sent back
        page.get_by_role("button", name="Confirm and save").click()
        expect(page.get_by_text("Saved Globex.")).to_be_visible()
        put = [r for r in sandbox.sandbox.received if r["method"] == "PUT"][-1]["body"]
        assert (put["sso_domain"], put["client_secret"]) == ("globex.test", SECRET)
        assert page.console.errors == []

    def test_live_search_updates_results_and_address(self, admin_page, screenshot):
        page = admin_page
        page.get_by_label("Search by name, domain or id").fill("glob")
        expect(page.locator("#organization-results tbody tr")).to_have_count(1)
        expect(page).to_have_url(re.compile(r"/organizations/\?q=glob$"))
        screenshot("09-search")
        assert page.console.errors == []
