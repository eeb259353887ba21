"""Text from Polytomic and from staff is never markup: every page and fragment, rendered with
hostile names, domains, issuers, error messages and user agents, holds none of it as elements or
attributes, and shows it only where htmx is switched off (or inside the one htmx form, escaped).

The hostile values carry the marker "pwn" in every tag, attribute and value they would create.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import StoredOrganization
from devtools.support import hidden_field
from orgadmin.models import ChangeRequest, Onboarding
from tests.factories import make_user

MARKER = "pwn"
HOSTILE = [
    # The probe's payload: an Admin opening a page posts a delete of another organization.
    '<div hx-post="/pwn/" hx-trigger="load" hx-vals=\'{"confirm_name":"Victim Co"}\'>.</div>',
    '<x-pwn data-hx-get="/pwn/" data-hx-trigger="load">pwn</x-pwn>',
    '"><img src=x onerror=pwn() data-pwn=1>',
    "'><svg onload=pwn() hx-on:click=pwn()>",
    "</textarea></title></p><script>pwn()</script>",
    "{{ pwn }}{% pwn %} &lt;b&gt;pwn",
]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class MarkupScan(HTMLParser):
    """Finds markup made of hostile text, and hostile text shown where htmx would process it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.open: list[tuple[str, bool, bool]] = []  # (tag, htmx off here, inside an htmx form)
        self.htmx_loaded = False
        self.shown_where_htmx_is_on: list[str] = []

    def _here(self) -> tuple[bool, bool]:
        return (self.open[-1][1], self.open[-1][2]) if self.open else (False, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if MARKER in tag:
            self.problems.append(f"element <{tag}> made of hostile text")
        if tag == "script" and "src" not in names:
            self.problems.append("an inline <script> element")
        if tag == "script" and "htmx" in (names.get("src") or ""):
            self.htmx_loaded = True
        for name, value in attrs:
            if MARKER in name:
                self.problems.append(f"attribute {name} made of hostile text on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name.startswith(("hx-", "data-hx-")) and MARKER in (value or ""):
                self.problems.append(f"htmx attribute {name}={value!r} on <{tag}>")
        off, in_form = self._here()
        off = off or "hx-disable" in names or "data-hx-disable" in names
        in_form = in_form or (tag == "form" and "hx-post" in names)
        if tag not in VOID:
            self.open.append((tag, off, in_form))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        if MARKER not in data:
            return
        off, in_form = self._here()
        tag = self.open[-1][0] if self.open else ""
        if tag == "script":
            self.problems.append("hostile text inside a <script>")
        elif not (off or in_form or tag == "title"):
            self.shown_where_htmx_is_on.append(f"hostile text where htmx is on: {data.strip()[:60]!r} in <{tag}>")


def scan(page: str) -> list[str]:
    # A random CSRF token can spell the marker: it is no text of anyone's.
    page = re.sub(r'"X-CSRFToken": "[A-Za-z0-9]+"', '"X-CSRFToken": "[token]"', page)
    parser = MarkupScan()
    parser.feed(page)
    parser.close()
    # Pages that do not load htmx (the Django admin's) have nothing to switch off.
    return parser.problems + (parser.shown_where_htmx_is_on if parser.htmx_loaded else [])


class MarkupScanTests:
    """The scanner itself must see what it is looking for, or the page tests prove nothing."""

    @pytest.mark.parametrize("payload", HOSTILE[:5])
    def test_it_finds_each_payload_rendered_raw(self, payload):
        assert scan(f"<main><p>{payload}</p></main>")

    def test_it_finds_hostile_text_where_htmx_is_on(self):
        htmx = '<script src="/static/django_htmx/htmx-2.min.js"></script>'
        assert scan(f"{htmx}<main><p>&lt;b&gt;pwn</p></main>")
        assert not scan("<main><p>&lt;b&gt;pwn</p></main>")  # no htmx on the page
        assert not scan(f"{htmx}<main hx-disable><p>&lt;b&gt;pwn</p></main>")
        assert not scan(f'{htmx}<form hx-post="/x/"><input value="&lt;pwn"><p>pwn</p></form>')

    def test_escaped_payloads_pass(self):
        from django.utils.html import escape

        assert not scan("<main hx-disable>" + "".join(f"<p>{escape(p)}</p>" for p in HOSTILE) + "</main>")


def hostile_organizations(sandbox) -> list[StoredOrganization]:
    """Organizations as Polytomic could return them: nothing it sends is trusted."""
    organizations = [
        StoredOrganization(
            id=str(uuid.UUID(int=0xBAD0 + n, version=4)),
            partner="partner",
            name=f"{payload} {n}",
            sso_domain=payload,
            sso_org_id=payload,
            issuer=f"https://idp.example/{payload}",
        )
        for n, payload in enumerate(HOSTILE)
    ]
    with sandbox.sandbox.lock:
        sandbox.sandbox.organizations.update({o.id: o for o in organizations})
    return organizations


def answer(sandbox, method: str, path: str, status: int, body: dict) -> None:
    sandbox.sandbox.faults.queue.append({"method": method, "path": path, "answer": {"status": status, "body": body}})


@pytest.mark.django_db
def test_no_page_or_fragment_turns_hostile_text_into_markup(client, sandbox):
    client.force_login(make_user("root", role="Admin", is_staff=True, is_superuser=True))
    client.defaults["HTTP_USER_AGENT"] = HOSTILE[0]  # shown on the audit entry's page
    pages: dict[str, str] = {}

    def visit(label: str, response) -> None:
        assert response.status_code in (200, 302, 403, 422), (label, response.status_code)
        if response.get("Content-Type", "").startswith("text/html"):
            pages[label] = response.content.decode()

    organizations = hostile_organizations(sandbox)
    htmx = {"HTTP_HX_REQUEST": "true"}
    visit("list", client.get("/organizations/"))
    visit("list fragment", client.get("/organizations/", **htmx))
    visit("search", client.get("/organizations/", {"q": HOSTILE[1]}))
    visit("search fragment", client.get("/organizations/", {"q": HOSTILE[1]}, **htmx))

    for n, organization in enumerate(organizations):
        base = f"/organizations/{organization.id}"
        visit(f"detail {n}", client.get(f"{base}/"))
        opened = client.get(f"{base}/edit/")
        visit(f"edit {n}", opened)
        hidden = {name: hidden_field(opened.content.decode(), name) for name in ("form_key", "opened")}
        as_found = {"name": organization.name, "sso_domain": organization.sso_domain, "issuer": organization.issuer}
        visit(f"edit refused {n}", client.post(f"{base}/edit/", as_found | hidden))
        visit(f"edit refused fragment {n}", client.post(f"{base}/edit/", as_found | hidden, **htmx))
        fixed = {"name": HOSTILE[n], "sso_domain": "fixed.example", "sso_org_id": "org_fixed", "remove_oidc": "on"}
        visit(f"edit summary {n}", client.post(f"{base}/edit/", fixed | hidden))
        with sandbox.sandbox.lock:
            organization.name = f"{HOSTILE[(n + 1) % len(HOSTILE)]} meanwhile {n}"
        visit(f"edit changed meanwhile {n}", client.post(f"{base}/edit/", fixed | hidden, **htmx))
        answer(sandbox, "GET", f"/api/organizations/{organization.id}", 500, {"message": HOSTILE[n]})
        visit(f"upstream failure {n}", client.get(f"{base}/"))
        visit(f"delete {n}", client.get(f"{base}/delete/"))
        visit(f"delete refused {n}", client.post(f"{base}/delete/", {"confirm_name": HOSTILE[n]}))

    # Polytomic's refusals, with hostile words, on the create form's fields and above it.
    create = client.get("/organizations/new/")
    key = hidden_field(create.content.decode(), "form_key")
    typed = {"name": HOSTILE[2], "form_key": key}
    answer(sandbox, "POST", "/api/organizations", 409, {"message": HOSTILE[3]})
    visit("create 409", client.post("/organizations/new/", typed))
    metadata = {"name": HOSTILE[4], "issuer": [HOSTILE[5]], "elsewhere": HOSTILE[0]}
    answer(sandbox, "POST", "/api/organizations", 422, {"message": HOSTILE[1], "metadata": metadata})
    visit("create 422", client.post("/organizations/new/", typed, **htmx))
    visit("created", client.post("/organizations/new/", typed, follow=True))
    victim = organizations[0]
    confirm = {"confirm_name": victim.name}
    visit("deleted", client.post(f"/organizations/{victim.id}/delete/", confirm, follow=True))

    # Onboarding: a hostile name refused and then created, hostile connections, a hostile failure.
    from devtools.sandbox import OWNER_ID, StoredConnection

    with sandbox.sandbox.lock:
        for n, payload in enumerate(HOSTILE[:3]):
            stored = StoredConnection(str(uuid.UUID(int=0xC0 + n, version=4)), OWNER_ID, payload, payload)
            sandbox.sandbox.stored_connections[stored.id] = stored
    new = client.get("/onboarding/new/").content.decode()
    first = {"name": HOSTILE[2], "form_key": hidden_field(new, "form_key"), "flow": hidden_field(new, "flow")}
    answer(sandbox, "POST", "/api/organizations", 422, {"message": HOSTILE[1], "metadata": {"name": HOSTILE[4]}})
    visit("onboarding refused", client.post("/onboarding/new/", first))
    flow = Onboarding.objects.get()
    again = {"name": f"{HOSTILE[3]} onboarded", "form_key": first["form_key"]}
    visit("onboarding created", client.post(f"/onboarding/{flow.pk}/organization/", again, follow=True))
    hostile_connection = str(uuid.UUID(int=0xC0, version=4))
    answer(sandbox, "POST", f"/api/organizations/{OWNER_ID}/connections/{hostile_connection}/shared", 500,
           {"message": HOSTILE[0]})  # fmt: skip
    shared = {"connections": [str(uuid.UUID(int=0xC0 + n, version=4)) for n in range(3)]}
    visit("onboarding share failed", client.post(f"/onboarding/{flow.pk}/connections/", shared, follow=True))
    visit("onboarding list", client.get("/onboarding/"))
    visit("onboarding abandon", client.get(f"/onboarding/{flow.pk}/abandon/"))
    visit("onboarding abandoned", client.post(f"/onboarding/{flow.pk}/abandon/", follow=True))

    # Change requests of hostile organizations, with hostile reasons and summaries, in the queue.
    asker = make_user("asker", role="Editor")
    approver = make_user("approver", role="Admin")
    for n, organization in enumerate(organizations[1:], start=1):
        hostile = HOSTILE[n % len(HOSTILE)]
        change = ChangeRequest.objects.create(
            organization_id=organization.id, organization_name=organization.name, kind="update",
            body={"name": hostile}, organization_state={}, reason=hostile, requested_by=asker,
            summary={"changes": [{"label": hostile, "kind": "changed", "before": hostile, "after": hostile}],
                     "oidc_removed": True},
            expires_at=timezone.now() + timedelta(hours=1),
        )  # fmt: skip
        visit(f"change request {n}", client.get(f"/changes/{change.pk}/"))
        if n == 1:  # sent, its outcome not known: its page, the queue, and a check's finding (Polytomic's values)
            ChangeRequest.objects.filter(pk=change.pk).update(status="unknown", result=hostile, decided_by=approver)
            visit(f"change request {n} unknown", client.get(f"/changes/{change.pk}/"))
            visit("changes with one unknown", client.get("/changes/"))
            visit(f"change request {n} checked", client.post(f"/changes/{change.pk}/check/", follow=True))
    visit("changes", client.get("/changes/"))

    # Setup links of hostile organizations: the staff page, the customer's page, an entry refused
    # with hostile values, and the request a hostile issuer check's finding waits in.
    standing = [o for o in organizations if o.id in sandbox.sandbox.organizations]
    assert standing
    for n, organization in enumerate(standing):
        made = client.post(f"/organizations/{organization.id}/setup-links/", {"hours": 1})
        visit(f"setup links {n}", made)
        assert made.status_code == 200, (n, made.status_code, made.content.decode()[-3000:])
        token = re.search(r"/setup/([A-Za-z0-9_-]{43})/", made.content.decode()).group(1)
        visit(f"setup page {n}", Client().get(f"/setup/{token}/"))
        hostile_entry = {"issuer": HOSTILE[n], "client_id": HOSTILE[n], "client_secret": "s"}
        visit(f"setup entry refused {n}", Client().post(f"/setup/{token}/", hostile_entry))
    setup = ChangeRequest.objects.create(
        organization_id=organizations[0].id, organization_name=organizations[0].name, kind="setup",
        body={"issuer": HOSTILE[3]}, organization_state={}, reason=HOSTILE[4], requested_by=asker,
        summary={"setup_link": 1, "issuer_check": {"passed": False, "authorization_host": HOSTILE[5],
                                                   "problem": HOSTILE[0]}},
        expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    visit("setup change request", client.get(f"/changes/{setup.pk}/"))

    # The audit log now holds the hostile names, messages and user agent.
    visit("audit", client.get("/audit/"))
    visit("audit fragment", client.get("/audit/", {"actor": HOSTILE[0]}, **htmx))
    visit("audit by organization", client.get("/audit/", {"organization": organizations[1].id}))
    for entry_id in AuditEntry.objects.values_list("id", flat=True):
        visit(f"audit entry {entry_id}", client.get(f"/audit/{entry_id}/"))
        visit(f"admin entry {entry_id}", client.get(f"/admin/audit/auditentry/{entry_id}/change/"))
    visit("admin entries", client.get("/admin/audit/auditentry/"))

    assert AuditEntry.objects.filter(organization_name__contains=MARKER).exists(), "hostile names reached the log"
    assert AuditEntry.objects.filter(user_agent=HOSTILE[0]).exists()
    shown = "\n".join(pages.values())
    assert "Victim Co" in shown, "the hostile values were rendered at all"
    assert "meanwhile" in shown
    assert "Victim Co" in pages["onboarding share failed"], "the hostile failure was shown on the flow's page"
    assert "onboarded" in pages["onboarding list"]
    problems = {label: sorted(set(found)) for label, page in pages.items() if (found := scan(page))}
    assert not problems, "\n".join(f"{label}: {found}" for label, found in problems.items())
