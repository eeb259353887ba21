"""Four eyes in Chromium: an Editor asks to remove a customer's OIDC, an Admin approves it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import GLOBEX_ID
from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True


def test_an_editor_asks_and_an_admin_approves(page: Page, browser, live_server, sandbox, screenshot):
    make_user("ed", role="Editor")
    make_user("ada", role="Admin")
    sign_in(page, "ed")
    page.goto(f"/organizations/{GLOBEX_ID}/edit/")
    page.get_by_label("Remove OIDC").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This change waits for a second person")).to_be_visible()
    page.get_by_label("Why is this change needed?").fill("Globex asked to turn OIDC off (ticket 88)")
    page.get_by_role("button", name="Request approval").click()
    expect(page.get_by_text("An Admin other than you must approve it")).to_be_visible()
    expect(page.get_by_text("Waiting for an Admin other than you")).to_be_visible()
    screenshot("30-change-requested")
    assert sandbox.sandbox.organizations[GLOBEX_ID].issuer  # nothing sent yet
    assert page.console.errors == []

    admin = browser.new_context(base_url=live_server.url).new_page()
    sign_in(admin, "ada")
    expect(admin.get_by_role("link", name="Changes 1")).to_be_visible()
    admin.get_by_role("link", name="Changes 1").click()
    admin.get_by_role("link", name=r"#").first.click()
    expect(admin.get_by_text("OIDC will be removed.")).to_be_visible()
    expect(admin.get_by_text("Globex asked to turn OIDC off (ticket 88)")).to_be_visible()
    admin.get_by_label("Comment").fill("Confirmed with Globex's IT")
    admin.get_by_role("button", name="Approve and send").click()
    expect(admin.get_by_text("Approved and done").first).to_be_visible()
    assert sandbox.sandbox.organizations[GLOBEX_ID].issuer is None


def test_a_requester_finds_the_waiting_request_from_the_organization_and_withdraws_it(page: Page, sandbox, screenshot):
    make_user("ed", role="Editor")
    sign_in(page, "ed")
    page.goto(f"/organizations/{GLOBEX_ID}/edit/")
    page.get_by_label("Remove OIDC").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_label("Why is this change needed?").fill("Globex asked to turn OIDC off (ticket 88)")
    page.get_by_role("button", name="Request approval").click()
    expect(page.get_by_role("heading", name="Remove OIDC: Globex")).to_be_visible()

    page.goto("/organizations/")
    page.get_by_role("link", name="Globex", exact=True).click()
    expect(page.get_by_text("A change request waits for a second person")).to_be_visible()
    screenshot("31-organization-with-a-waiting-change")
    page.get_by_role("link", name="Remove OIDC").click()
    page.get_by_role("button", name="Withdraw this request").click()
    expect(page.get_by_text("Withdrawn: nothing was sent to Polytomic.")).to_be_visible()
    expect(page.get_by_text("Withdrawn by its requester", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Withdraw this request")).to_have_count(0)

    page.get_by_role("link", name="Globex").first.click()
    expect(page.get_by_text("A change request waits for a second person")).to_have_count(0)
    assert sandbox.sandbox.organizations[GLOBEX_ID].issuer  # nothing was sent
    assert page.console.errors == []
