"""Every page of the authorization matrix on a phone's screen (390 by 844 px) in Chromium: nothing scrolls
sideways, and axe-core finds no serious or critical accessibility violation, there and at 1280 px.

Each page is opened by the most privileged role that may see it (an Admin's header is the widest:
every link, and the count of changes waiting), or anonymously when only the signed-out see it, and
its screenshot is kept under test-results/screenshots (narrow-*.png).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from audit.models import AuditEntry
from audit.store import append
from devtools.sandbox import ACME_ID
from orgadmin.models import ChangeRequest, Onboarding
from tests.browser.support import serious_violations, sign_in
from tests.factories import make_user
from tests.support import named_url_patterns
from tests.test_authorization_matrix import ANALYST_ID, POLICY

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 800}
NOT_PAGES = {
    "orgadmin:audit-export": "a CSV file",
    "setup-script": "the setup page's script",
    "orgadmin:audit-organization-names": "the name filter's <option>s, for its <datalist>",
}
SHOWN = (200, 401)  # 401: the identity provider's error page, shown to whoever lands on it


def pages() -> list[tuple[str, str | None]]:
    """(URL name, role) for every page a GET shows: as an Admin if an Admin sees it, else anonymous."""
    found = []
    for name, methods in POLICY.items():
        anonymous, _viewer, _editor, admin = methods.get("GET", (None,) * 4)
        if name in NOT_PAGES:
            continue
        if admin in SHOWN:
            found.append((name, "Admin"))
        elif anonymous in SHOWN:
            found.append((name, None))
    return found


def sample_path(name: str) -> str:
    """The page's path, with ids of sample objects made here: a change request of a colleague's
    (waiting for the Admin, so the header counts it), an onboarding flow, an audit entry."""
    colleague = make_user("colleague", role="Editor")
    change = ChangeRequest.objects.create(
        organization_id=ACME_ID, organization_name="Acme Corporation", kind="delete", organization_state={},
        reason="Acme asked to leave", requested_by=colleague, expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    flow = Onboarding.objects.create(
        correlation_id=uuid.uuid4(), key="k" * 32, started_by=colleague, organization_id=ACME_ID,
        organization_name="Acme Corporation", organization_input={"name": "Acme Corporation"},
    )  # fmt: skip
    task = flow.tasks.create(step="organization", label="Acme Corporation", state="done", polytomic_id=ACME_ID)
    entry = AuditEntry(
        actor_username="colleague", action="organization.list", method="GET", path="/", outcome="ok", duration_ms=12
    )
    append(entry)
    samples = {
        "organization_id": ACME_ID,
        "user_id": ANALYST_ID,
        "change_id": change.pk,
        "entry_id": entry.pk,
        "staff_id": colleague.pk,
        "flow_id": flow.pk,
        "task_id": task.pk,
        "provider_id": "company",
    }
    pattern = dict(named_url_patterns())[name]
    return reverse(name, kwargs={key: samples[key] for key in pattern.pattern.regex.groupindex})


@pytest.fixture(autouse=True)
def _four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True  # the Changes link and its count are in the header


@pytest.mark.parametrize(("name", "role"), pages())
def test_the_page_fits_a_phone_and_passes_axe(page: Page, sandbox, screenshot, name, role):
    if role is not None:
        make_user("ada", role=role)
        sign_in(page, "ada")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
    path = sample_path(name)
    page.set_viewport_size(PHONE)

    response = page.goto(path)
    assert response.status == POLICY[name]["GET"][3 if role else 0], path
    screenshot(f"narrow-{name.replace(':', '-')}")
    width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    problems = [] if width[0] <= width[1] else [f"{path} is {width[0]} px wide at {width[1]} px"]
    # Chromium logs the page's own 401 as a console error: that status is the page's, as the matrix says.
    problems += serious_violations(page) + [e for e in page.console.errors if f"status of {response.status}" not in e]
    # The same page on a wide screen, where the header's menu stands open and the tables are whole.
    page.set_viewport_size(WIDE)
    problems += [f"at {WIDE['width']} px: {violation}" for violation in serious_violations(page)]
    assert problems == [], "\n".join(problems)


def test_the_header_folds_into_a_menu_on_a_phone(page: Page, sandbox, screenshot):
    make_user("ada", role="Admin")
    sign_in(page, "ada")
    page.set_viewport_size(PHONE)
    page.goto("/organizations/")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_be_hidden()

    page.get_by_text("Menu", exact=True).click()
    expect(navigation.get_by_role("link")).to_have_text(
        ["Organizations", "Onboarding", "Audit log", "Changes", "Staff"]
    )
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot("narrow-menu-open")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    assert serious_violations(page) == []  # the menu's content, which a closed menu hides from axe
    navigation.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    assert page.console.errors == []
