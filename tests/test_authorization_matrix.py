"""Every URL of the project, for anonymous, Viewer, Editor and Admin, with each method it accepts.

The table below is the access policy. The test enumerates the URL resolver, so a URL added without
a row here fails, and a row that no longer matches a URL fails too.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from audit.store import append
from devtools.sandbox import ACME_ID
from orgadmin.models import ChangeRequest, Onboarding
from tests.factories import make_user
from tests.support import named_url_patterns

ROLES = (None, "Viewer", "Editor", "Admin")
# A user of Acme's in the sandbox (devtools/sandbox/people.py seeds it with this id).
ANALYST_ID = str(uuid.uuid5(uuid.UUID(ACME_ID), "user-1"))
SIGN_IN = 302  # anonymous: sent to sign in
R = 302  # a redirect for a signed-in user

# name: {method: (anonymous, Viewer, Editor, Admin)}. POSTs carry an empty form.
ANYONE_405 = (405, 405, 405, 405)
SIGNED_IN_405 = (SIGN_IN, 405, 405, 405)
POLICY = {
    # Sign-in and sign-out (django-allauth's views, staff/urls.py).
    "account_login": {"GET": (200, R, R, R), "POST": (200, R, R, R), "PUT": ANYONE_405},
    "account_logout": {"POST": (302, R, R, R), "GET": (SIGN_IN, 200, 200, 200), "PUT": ANYONE_405},
    "account_inactive": {"GET": (200, 200, 200, 200), "POST": ANYONE_405},
    "account_change_password": {
        "GET": (SIGN_IN, 200, 200, 200),
        "POST": (SIGN_IN, 200, 200, 200),
        "PUT": SIGNED_IN_405,
    },
    "account_reauthenticate": {"GET": (SIGN_IN, 200, 200, 200), "POST": (SIGN_IN, 200, 200, 200), "PUT": SIGNED_IN_405},
    # Second factors. Managing them asks for the password again first (a redirect); with none
    # enrolled there is nothing to turn off or to show (404). With no sign-in under way, the
    # second step of one leads back to the start.
    "mfa_index": {"GET": (SIGN_IN, 200, 200, 200), "POST": SIGNED_IN_405},
    "mfa_authenticate": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": ANYONE_405},
    "mfa_reauthenticate": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_activate_totp": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_deactivate_totp": {"GET": (SIGN_IN, 404, 404, 404), "POST": (SIGN_IN, 404, 404, 404), "PUT": SIGNED_IN_405},
    "mfa_view_recovery_codes": {"GET": (SIGN_IN, 404, 404, 404), "POST": SIGNED_IN_405},
    "mfa_generate_recovery_codes": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_list_webauthn": {"GET": (SIGN_IN, 200, 200, 200), "POST": SIGNED_IN_405},
    "mfa_add_webauthn": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_reauthenticate_webauthn": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_remove_webauthn": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    "mfa_edit_webauthn": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, R, R, R), "PUT": SIGNED_IN_405},
    # The identity provider: not found while none is configured (tests/test_staff_oidc.py has one).
    "openid_connect_login": {"GET": (404, 404, 404, 404), "POST": (404, 404, 404, 404), "PUT": ANYONE_405},
    "openid_connect_callback": {"GET": (404, 404, 404, 404), "POST": (404, 404, 404, 404), "PUT": ANYONE_405},
    "socialaccount_login_cancelled": {"GET": (200, 200, 200, 200), "POST": ANYONE_405},
    "socialaccount_login_error": {"GET": (SIGN_IN, 401, 401, 401), "POST": SIGNED_IN_405},
    "socialaccount_signup": {"GET": (R, R, R, R), "POST": (R, R, R, R), "PUT": ANYONE_405},
    # Staff members and their sessions: Admins.
    "staff:staff-list": {"GET": (SIGN_IN, 403, 403, 200), "POST": SIGNED_IN_405},
    # Ending sessions: GET asks; a POST without the confirmation is sent back to the question.
    "staff:staff-end-sessions": {
        "GET": (SIGN_IN, 403, 403, 200),
        "POST": (SIGN_IN, 403, 403, R),
        "PUT": SIGNED_IN_405,
    },
    "orgadmin:home": {"GET": (SIGN_IN, R, R, R), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:organization-list": {"GET": (SIGN_IN, 200, 200, 200), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:organization-create": {
        "GET": (SIGN_IN, 403, 200, 200),
        "POST": (SIGN_IN, 403, 422, 422),
        "PUT": (SIGN_IN, 405, 405, 405),
    },
    "orgadmin:organization-detail": {"GET": (SIGN_IN, 200, 200, 200), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:organization-edit": {
        "GET": (SIGN_IN, 403, 200, 200),
        "POST": (SIGN_IN, 403, 422, 422),
        "PUT": (SIGN_IN, 405, 405, 405),
    },
    "orgadmin:organization-delete": {
        "GET": (SIGN_IN, 403, 403, 200),
        "POST": (SIGN_IN, 403, 403, 422),
        "DELETE": (SIGN_IN, 405, 405, 405),
    },
    # Change requests (four eyes): Editors ask and follow them; Admins decide others'.
    # A customer organization's people: everyone sees them, Editors invite, re-role and remove,
    # Admins mint API keys. POSTs carry an empty form: input to correct.
    "orgadmin:issuer-check": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, 200, 200)},
    "orgadmin:user-list": {"GET": (SIGN_IN, 200, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:user-invite": {"GET": (SIGN_IN, 403, 200, 200), "POST": (SIGN_IN, 403, 422, 422), "PUT": SIGNED_IN_405},
    "orgadmin:user-roles": {"GET": (SIGN_IN, 403, 200, 200), "POST": (SIGN_IN, 403, 422, 422), "PUT": SIGNED_IN_405},
    "orgadmin:user-remove": {
        "GET": (SIGN_IN, 403, 200, 200),
        "POST": (SIGN_IN, 403, 422, 422),
        "DELETE": SIGNED_IN_405,
    },
    "orgadmin:user-key": {"GET": (SIGN_IN, 403, 403, 200), "POST": (SIGN_IN, 403, 403, 422), "PUT": SIGNED_IN_405},
    "orgadmin:connection-list": {
        "GET": (SIGN_IN, 200, 200, 200),
        "POST": (SIGN_IN, 403, 422, 422),
        "PUT": SIGNED_IN_405,
    },
    "orgadmin:find": {"GET": (SIGN_IN, 200, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:change-list": {"GET": (SIGN_IN, 403, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:change-detail": {"GET": (SIGN_IN, 403, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:change-decide": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, 403, 422)},
    # Only its requester withdraws a request (the sample's is a colleague's).
    "orgadmin:change-withdraw": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, 403, 403)},
    # A check at Polytomic of a request whose outcome is not known: who may decide (the sample request
    # is pending, so there is nothing to check, and the Admin is led back to it).
    "orgadmin:change-check": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, 403, R)},
    # Onboarding: Editors and Admins (the sample flow is at its connections step, so the forms of
    # the other steps send nothing and lead back to it; an empty connections form shares none).
    "orgadmin:onboarding-list": {"GET": (SIGN_IN, 403, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:onboarding-new": {
        "GET": (SIGN_IN, 403, 200, 200),
        "POST": (SIGN_IN, 403, 422, 422),
        "PUT": SIGNED_IN_405,
    },
    "orgadmin:onboarding-detail": {"GET": (SIGN_IN, 403, 200, 200), "POST": SIGNED_IN_405},
    "orgadmin:onboarding-org": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, R, R)},
    "orgadmin:onboarding-connections": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, R, R)},
    "orgadmin:onboarding-administrators": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, R, R)},
    "orgadmin:onboarding-skip": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, R, R)},
    "orgadmin:onboarding-abandon": {"GET": (SIGN_IN, 403, 200, 200), "POST": (SIGN_IN, 403, R, R)},
    # A customer's setup links: Editors and Admins make and revoke them (revoking one that is not
    # there leads back to the list, with why).
    "orgadmin:setup-links": {"GET": (SIGN_IN, 403, 200, 200), "POST": (SIGN_IN, 403, 422, 422), "PUT": SIGNED_IN_405},
    "orgadmin:setup-link-revoke": {"GET": SIGNED_IN_405, "POST": (SIGN_IN, 403, R, R)},
    # The customer's setup pages: no sign-in, the token is the credential (the sample is no link's,
    # so everyone gets the one plain refusal; tests/test_setup_links.py has the rest).
    "setup-page": {"GET": (404, 404, 404, 404), "POST": (404, 404, 404, 404), "PUT": ANYONE_405},
    "setup-check": {"GET": ANYONE_405, "POST": (404, 404, 404, 404)},
    "setup-script": {"GET": (200, 200, 200, 200), "POST": ANYONE_405},
    "orgadmin:audit-list": {"GET": (SIGN_IN, 403, 403, 200), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:audit-detail": {"GET": (SIGN_IN, 403, 403, 200), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:audit-export": {"GET": (SIGN_IN, 403, 403, 200), "POST": (SIGN_IN, 405, 405, 405)},
    "orgadmin:audit-organization-names": {"GET": (SIGN_IN, 403, 403, 200), "POST": (SIGN_IN, 405, 405, 405)},
}
# The Django admin is for superusers (staff): it sends everyone else to its own sign-in page, which
# sends the anonymous on to the portal's (second factor included) and refuses the signed-in.
ADMIN_SITE = {"admin:login": (302, 403, 403, 403)}
ADMIN_SITE_DEFAULT = (302, 302, 302, 302)


def project_urls() -> dict[str, str]:
    """name: path with sample arguments, for every named URL of the project."""
    samples = {
        "organization_id": ACME_ID,
        "entry_id": 1,
        "change_id": 1,
        "pk": 1,
        "staff_id": 1,
        "user_id": ANALYST_ID,
        "provider_id": "company",
        "flow_id": 1,
        "task_id": 1,
        "link_id": 1,
        "token": "x" * 43,
    }
    paths = {}
    for name, pattern in named_url_patterns():
        if name.startswith("admin:"):
            continue  # the admin's many model URLs share one rule, tested separately
        kwargs = {key: samples[key] for key in pattern.pattern.regex.groupindex}
        paths[name] = reverse(name, kwargs=kwargs)
    return paths


def test_every_url_has_a_row_and_every_row_a_url():
    assert set(project_urls()) == set(POLICY)


CASES = [
    (name, method, role, expected[index])
    for name, methods in POLICY.items()
    for method, expected in methods.items()
    for index, role in enumerate(ROLES)
]


def sample_objects():
    """An audit entry, a colleague (a Viewer, whose sessions an Admin may end) and a change
    request of the colleague's, waiting: what the sample paths name."""
    append(
        AuditEntry(actor_username="x", action="organization.list", method="GET", path="/", outcome="ok", duration_ms=1)
    )
    colleague = make_user("colleague", role="Viewer")
    change = ChangeRequest.objects.create(
        organization_id=ACME_ID, organization_name="Acme", kind="delete", organization_state={}, reason="r",
        requested_by=colleague, expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    return colleague, change


def sample_path(name: str, colleague, change: ChangeRequest) -> str:
    """The URL's path with the sample objects' ids (an onboarding flow made for it when it names one)."""
    path = project_urls()[name]
    if name.startswith("orgadmin:onboarding-") and "/1/" in path:
        flow = Onboarding.objects.create(
            correlation_id=uuid.uuid4(), key="k" * 32, started_by=colleague, organization_id=ACME_ID,
            organization_name="Acme Corporation", organization_input={"name": "Acme Corporation"},
        )  # fmt: skip
        task = flow.tasks.create(step="organization", label="Acme Corporation", state="done", polytomic_id=ACME_ID)
        kwargs = {"flow_id": flow.pk} | ({"task_id": task.pk} if "skip" in name else {})
        path = reverse(name, kwargs=kwargs)
    elif "/1/" in path:  # the sample id: a staff member's, a change request's, or an audit entry's
        owner = colleague.id if name.startswith("staff:") else change.id if "change" in name else None
        path = path.replace("/1/", f"/{owner or AuditEntry.objects.get().id}/")
    return path


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role", "expected"), CASES)
def test_access(client, name, method, role, expected):
    colleague, change = sample_objects()
    if role is not None:
        client.force_login(make_user(f"{role or 'anon'}-user", role=role))
    path = sample_path(name, colleague, change)
    response = client.post(path, {}) if method == "POST" else client.generic(method, path)
    assert response.status_code == expected, f"{method} {path} as {role or 'anonymous'}"
    if expected == SIGN_IN and role is None:
        assert response["Location"].startswith(reverse("account_login"))


# Links are those of <a> elements; a page's own forms (POST) are the access test's.
LINK = re.compile(r"<a\b[^>]*?\shref=\"([^\"]*)\"", re.IGNORECASE)


def internal_links(page: str) -> set[str]:
    """The portal's own links on a page: paths (or this host's URLs), without their fragment."""
    found = set()
    for href in LINK.findall(page):
        url = urlsplit(html.unescape(href))
        if url.scheme not in ("", "http", "https") or url.netloc not in ("", "testserver") or not url.path:
            continue
        found.add(urlunsplit(("", "", url.path, url.query, "")))
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_a_link_its_reader_may_not_follow(client, sandbox, role):
    """Only links a person may follow: every page each role is shown (the table's GETs answering
    200), and every link within the portal on it, followed (GET) as that role: none answers 403."""
    colleague, change = sample_objects()
    if role is not None:
        client.force_login(make_user(f"{role}-user", role=role))
    shown = [
        sample_path(name, colleague, change)
        for name, methods in POLICY.items()
        if methods.get("GET", ANYONE_405)[ROLES.index(role)] == 200
    ]
    for path in shown:  # once first, so that each page also shows the calls the others made (its activity)
        client.get(path)
    refused, followed = [], {}
    for path in shown:
        response = client.get(path)
        if response.streaming or not response["Content-Type"].startswith("text/html"):
            continue  # the audit log's CSV export
        for link in sorted(internal_links(response.content.decode()) - set(followed)):
            followed[link] = client.get(link).status_code
            if followed[link] == 403:
                refused.append(f"{path} links to {link}")
    assert followed  # the walk found links to follow
    assert refused == [], f"as {role or 'anonymous'}"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_admin_site(client, role):
    if role is not None:
        client.force_login(make_user(f"{role}-user", role=role))
    for name, pattern in named_url_patterns():
        if not name.startswith("admin:") or pattern.pattern.regex.groupindex:
            continue
        expected = ADMIN_SITE.get(name, ADMIN_SITE_DEFAULT)[ROLES.index(role)]
        assert client.get(reverse(name)).status_code == expected, name


# The setup pages take no CSRF token: the link's token is the credential, and they set no cookie
# (tests/test_setup_links.py).
CSRF_EXEMPT = ("setup-page", "setup-check")
POSTS = [
    name
    for name, methods in POLICY.items()
    if "POST" in methods and methods["POST"][3] not in (405, R) and name not in CSRF_EXEMPT
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", POSTS)
def test_a_post_without_the_csrf_token_is_refused(name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ada", role="Admin"))
    response = client.post(project_urls()[name], {})
    assert response.status_code == 403
    assert b"CSRF" in response.content
