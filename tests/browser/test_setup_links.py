"""A customer setup link in Chromium, end to end: an Editor makes a link and has it mailed (to a
real SMTP server on loopback), the customer's admin opens it in a browser that has never signed in
to the portal, checks the issuer (the sandbox's, over https) and submits; another Editor approves;
Polytomic receives one PUT with the whole block; the link is dead afterwards; and the secret is in
no page, log line, export or audit stream line."""

from __future__ import annotations

import logging
import re

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from orgadmin.models import ChangeRequest
from tests.browser.conftest import SCREENSHOTS
from tests.browser.support import SCREENS, serious_violations, signed_in_as

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "customer-typed-secret-7BROWSERSETUP"


@pytest.fixture(autouse=True)
def _settings(customer_identity_provider, settings):
    settings.PORTAL_FOUR_EYES = True
    settings.PORTAL_PARTNER_NAME = "Northwind Data"


def puts(sandbox) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == "PUT"]


@pytest.mark.parametrize("screen", SCREENS, ids=["desktop", "phone"])
def test_the_customer_enters_oidc_and_another_editor_approves(
    page: Page, browser, live_server, sandbox, mail_server, audit_stream, caplog, screenshot, screen
):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []  # every page's markup, for the secret scan
    signed_in_as(page, "mia", role="Editor", screen=screen)
    page.goto(f"/organizations/{ACME_ID}/")
    page.get_by_role("link", name="Setup links").click()
    page.get_by_label("Email it to (optional)").fill("it-admin@acme.example")
    page.get_by_role("button", name="Make a link").click()
    expect(page.get_by_text("Copy it now: it is shown this once.")).to_be_visible()
    expect(page.get_by_text("Emailed to it-admin@acme.example.")).to_be_visible()
    shown = page.get_by_label(re.compile("^Link, valid until")).input_value()
    [mail] = mail_server.to("it-admin@acme.example")
    url = re.search(r"http://\S+/setup/[A-Za-z0-9_-]{43}/", mail.body).group(0)
    assert url == shown
    assert mail.subject == "Northwind Data: set up single sign-on for Acme Corporation"
    seen.append(page.content())
    screenshot(f"setup-links-made-{screen['width']}")

    customer = browser.new_context(viewport=screen)  # never signed in to the portal, no base URL
    admin_side = customer.new_page()
    admin_side.goto(url)
    expect(admin_side.get_by_role("heading", name="Set up single sign-on for Acme Corporation")).to_be_visible()
    expect(admin_side.get_by_text("Not yet confirmed")).to_be_visible()
    admin_side.get_by_label("Issuer URL").fill(f"{sandbox.tls_url}/_idp/good")
    admin_side.get_by_role("button", name="Check the issuer").click()
    expect(admin_side.locator("#issuer-result")).to_contain_text("The issuer answers as expected")
    expect(admin_side.locator("#issuer-result")).to_contain_text("login.good.example")
    admin_side.get_by_label("Client id").fill("acme-okta-client")
    admin_side.get_by_label("Client secret").fill(SECRET)
    assert admin_side.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert serious_violations(admin_side) == []
    admin_side.screenshot(path=SCREENSHOTS / f"setup-link-page-{screen['width']}.png", full_page=True)
    admin_side.get_by_role("button", name="Submit to Northwind Data").click()
    expect(admin_side.get_by_role("heading", name="Thank you: your settings are with Northwind Data")).to_be_visible()
    seen.append(admin_side.content())
    assert serious_violations(admin_side) == []
    assert customer.cookies() == []  # the setup pages set none
    assert puts(sandbox) == []

    approver = browser.new_context(base_url=live_server.url).new_page()
    signed_in_as(approver, "eve", role="Editor", screen=screen)
    change = ChangeRequest.objects.get()
    approver.goto(f"/changes/{change.pk}/")
    expect(
        approver.get_by_role("heading", name=re.compile("Entered by the customer through setup link"))
    ).to_be_visible()
    expect(approver.get_by_text("Issuer check when it was submitted: passed")).to_be_visible()
    approver.screenshot(path=SCREENSHOTS / f"setup-link-approval-{screen['width']}.png", full_page=True)
    seen.append(approver.content())
    approver.get_by_label("Comment").fill("Confirmed by phone with Acme's IT admin")
    approver.get_by_role("button", name="Approve and send").click()
    expect(approver.get_by_text("Approved and done").first).to_be_visible()
    seen.append(approver.content())

    [put] = puts(sandbox)
    assert put["path"] == f"/api/organizations/{ACME_ID}"
    assert put["body"] == {
        "name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME",
        "issuer": f"{sandbox.tls_url}/_idp/good", "client_id": "acme-okta-client", "client_secret": SECRET,
    }  # fmt: skip

    admin_side.goto(url)  # the link is dead
    expect(admin_side.get_by_role("heading", name="This link is not valid")).to_be_visible()
    assert serious_violations(admin_side) == []

    auditor = browser.new_context(base_url=live_server.url).new_page()
    signed_in_as(auditor, "ada", role="Admin", screen=screen)
    export = auditor.request.get("/audit/export.csv?reads=on")
    assert export.ok
    seen.append(export.text())
    for path in (f"/organizations/{ACME_ID}/", f"/organizations/{ACME_ID}/setup-links/", "/audit/?reads=on"):
        auditor.goto(path)
        seen.append(auditor.content())
    assert "OIDC entered through a setup link" in seen[-1]
    for text in (*seen, *audit_stream, caplog.text, mail.text):
        assert SECRET not in text
    assert page.console.errors == []
