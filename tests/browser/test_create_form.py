"""The plain create form in Chromium, as the Editor who uses it, at a desktop's width and a phone's:
its issuer check (the button, then the form's own check that holds a failed one), and a name
Polytomic says is taken, shown as a sentence with a link to the organization that holds it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=WIDTHS, ids=list(WIDTHS))
def editor_page(request, page: Page, live_server) -> Page:
    page.set_viewport_size(WIDTHS[request.param])
    make_user("ed", role="Editor")
    sign_in(page, "ed")
    page.goto("/organizations/new/")
    return page


pytestmark = [pytestmark, pytest.mark.usefixtures("customer_identity_provider")]


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_issuer_is_checked_and_a_failed_check_holds_the_form(editor_page, sandbox, screenshot, request):
    page = editor_page
    page.get_by_label("Name").fill("Hooli")
    page.get_by_label("Issuer URL").fill(f"{sandbox.tls_url}/_idp/trailing-slash")
    page.get_by_label("Client id").fill("hooli-portal")
    page.get_by_label("Client secret").fill("a-client-secret")
    page.get_by_role("button", name="Check the issuer").click()
    expect(page.locator("#issuer-check")).to_contain_text("The issuer check found a problem.")
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_role("heading", name="The issuer check found a problem")).to_be_visible()
    expect(page.get_by_label("Client secret")).to_have_value("a-client-secret")  # htmx kept it
    assert fits(page)
    screenshot(f"create-issuer-held-{request.node.callspec.id}")
    assert not [o for o in sandbox.sandbox.organizations.values() if o.name == "Hooli"]
    page.get_by_label("Save anyway: I have checked this issuer with the customer").check()
    page.get_by_role("button", name="Create organization").click()
    expect(page.get_by_text("Created Hooli.")).to_be_visible()
    assert page.console.errors == []


def test_a_taken_name_is_a_sentence_linking_to_its_holder(editor_page, screenshot, request):
    page = editor_page
    page.get_by_label("Name").fill("acme corporation")
    page.get_by_role("button", name="Create organization").click()
    errors = page.locator("#id_name_error")
    expect(errors).to_contain_text("An organization with this name already exists.")
    expect(errors).to_contain_text("It is the name of Acme Corporation.")
    assert fits(page)
    screenshot(f"create-name-taken-{request.node.callspec.id}")
    errors.get_by_role("link", name="Acme Corporation").click()
    expect(page.get_by_role("heading", name="Acme Corporation", level=1)).to_be_visible()
    assert page.console.errors == []
