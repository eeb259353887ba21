"""A customer's people in Chromium: an Editor invites (one person, then a pasted list), re-roles
and removes; an Admin mints a key, copies it, and does not see it again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devtools.sandbox import ACME_ID
from tests.browser.support import serious_violations, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_editor_invites_changes_roles_and_removes(page: Page, sandbox, screenshot):
    make_user("ed", role="Editor")
    sign_in(page, "ed")
    page.goto(f"/organizations/{ACME_ID}/")
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users of Acme Corporation")).to_be_visible()
    page.get_by_role("link", name="Invite users").click()
    page.get_by_label("Email").fill("New.Person@Acme.example")
    page.get_by_label("Data steward").check()
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("Invited new.person@acme.example")).to_be_visible()
    screenshot("40-users")

    row = page.get_by_role("row").filter(has_text="new.person@acme.example")
    expect(row).to_contain_text("Data steward")
    row.get_by_role("link", name="Change roles").click()
    page.get_by_label("Data steward").uncheck()
    page.get_by_label("Admin").check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("row").filter(has_text="new.person@acme.example")).to_contain_text("Admin")
    expect(page.get_by_role("link", name="Create API key")).to_have_count(0)  # Admins only

    page.get_by_role("row").filter(has_text="new.person@acme.example").get_by_role("link", name="Remove").click()
    page.get_by_label("Type the user's email to confirm").fill("new.person@acme.example")
    page.get_by_role("button", name="Remove user").click()
    expect(page.get_by_text("Removed new.person@acme.example")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="new.person@acme.example")).to_have_count(0)
    assert page.console.errors == []


def test_an_editor_pastes_a_list_and_corrects_what_was_not_invited(page: Page, sandbox):
    make_user("ed", role="Editor")
    sign_in(page, "ed")
    page.goto(f"/organizations/{ACME_ID}/users/invite/")
    emails = page.get_by_role("textbox", name="Emails")
    emails.fill("one@acme.example, two@acme.example\nthree at acme.example\nanalyst@acme.example")
    page.get_by_label("Member").check()
    page.get_by_role("button", name="Invite").click()

    expect(page.locator("#invited li")).to_have_text(["one@acme.example", "two@acme.example"])
    expect(emails).to_have_value("three at acme.example\nanalyst@acme.example")
    expect(emails).to_have_accessible_description(re.compile("“three at acme.example”: Not an email address."))
    expect(page.get_by_text("“analyst@acme.example”: Already in this organization.")).to_be_visible()
    expect(page.get_by_label("Member")).to_be_checked()  # the roles are kept too
    assert serious_violations(page) == []  # the lists of what became of each line too

    emails.fill("three@acme.example")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("Invited three@acme.example")).to_be_visible()
    for email in ("one@acme.example", "two@acme.example", "three@acme.example"):
        expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("Member")
    assert [r["body"]["email"] for r in sandbox.sandbox.received if r["method"] == "POST"] == [
        "one@acme.example",
        "two@acme.example",
        "three@acme.example",
    ]
    assert page.console.errors == []


def test_an_admin_mints_a_key_copies_it_and_never_sees_it_again(page: Page, context, sandbox, live_server):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    make_user("ada", role="Admin")
    sign_in(page, "ada")
    page.goto(f"/organizations/{ACME_ID}/users/")
    page.get_by_role("row").filter(has_text="analyst@acme.example").get_by_role("link", name="Create API key").click()
    page.get_by_role("button", name="Create API key").click()
    field = page.get_by_role("textbox", name="API key")
    key = field.input_value()
    # The whole key in view, in a monospace font: nothing cut off, 0 and O told apart.
    assert field.evaluate("f => f.scrollWidth <= f.clientWidth && getComputedStyle(f).fontFamily.includes('monospace')")
    analyst = next(u for u in sandbox.sandbox.users.values() if u.email == "analyst@acme.example")
    assert key == analyst.api_key
    # The clipboard is written and read only from a focused page; a headless window is focused
    # or not as the other pages of the run left it, so the page is told it has focus, as a
    # person's window would when they click in it.
    context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": True})
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key

    page.once("dialog", lambda dialog: dialog.accept())  # the browser asks before posting again
    page.reload()
    expect(page.get_by_role("heading", name="This key was shown once, and is not shown again")).to_be_visible()
    assert key not in page.content()
    assert analyst.api_key == key  # nothing new was minted
    assert page.console.errors == []
