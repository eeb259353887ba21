"""Neither the partner key nor an OIDC client secret appears anywhere a person or a log could see it."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import urllib.parse
from html import escape as html_escape

import pytest
import urllib3.connectionpool
from cryptography.fernet import Fernet
from django.core.signals import got_request_exception
from django.test import Client
from django.views.debug import ExceptionReporter

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID, INITECH_ID, OWNER_ID, PARTNER_KEY
from devtools.support import hidden_field, hidden_fields
from orgadmin.models import ChangeRequest, OidcCredentials, Onboarding, OnboardingTask
from orgadmin.onboarding import flow as onboarding
from orgadmin.organizations import edit_guard, services
from tests.factories import make_user
from tests.support import audit_refuses_inserts

SECRET = "oidc-secret-LEAKCHECK-7q2w9e"
KEPT_SECRET = "kept-oidc-secret-LEAKCHECK-3m5n"


class Recorder:
    """Every response a test client returned: bodies and headers, to search afterwards."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, response) -> object:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        self.seen.append(body.decode(errors="replace"))
        self.seen.append(json.dumps(dict(response.headers)))
        self.seen.append(str(response.cookies))
        return response


def drive_every_page(client: Client, record: Recorder, sandbox) -> None:
    """Every page and error path an Admin can reach, with the secret typed wherever it can be."""
    oidc = {"issuer": "https://leak.okta.example", "client_id": "leak-client", "client_secret": SECRET}
    record(client.get("/accounts/login/"))
    record(client.get("/organizations/"))
    record(client.get("/organizations/", {"q": "acme"}, HTTP_HX_REQUEST="true"))
    for organization_id in (ACME_ID, GLOBEX_ID, OWNER_ID):
        record(client.get(f"/organizations/{organization_id}/"))
    # Create: invalid locally, taken name, upstream failure, lost answer, success.
    create = client.get("/organizations/new/")
    record(create)
    key = hidden_field(create.content.decode(), "form_key")
    record(
        client.post(
            "/organizations/new/", {"name": "Leak", "issuer": "http://x", "client_secret": SECRET, "form_key": key}
        )
    )
    record(client.post("/organizations/new/", {"name": "globex", "form_key": key} | oidc))
    sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "status:503"})
    record(client.post("/organizations/new/", {"name": "Leak", "form_key": key} | oidc))
    sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "drop"})
    record(client.post("/organizations/new/", {"name": "Leak", "form_key": key} | oidc, HTTP_HX_REQUEST="true"))
    record(client.post("/organizations/new/", {"name": "Leak", "form_key": key} | oidc, follow=True))
    # Edit: missing secret, summary, upstream 422 (echoing the body), success.
    edit = client.get(f"/organizations/{GLOBEX_ID}/edit/")
    record(edit)
    opened = {name: hidden_field(edit.content.decode(), name) for name in ("form_key", "opened")}
    globex = {"name": "Globex", "sso_domain": "globex.example"} | opened
    record(client.post(f"/organizations/{GLOBEX_ID}/edit/", globex | oidc | {"client_secret": ""}))
    summary = client.post(f"/organizations/{GLOBEX_ID}/edit/", globex | oidc)
    record(summary)
    confirm = {"confirm": hidden_field(summary.content.decode(), "confirm")}
    sandbox.sandbox.faults.queue.append(
        {"method": "PUT", "path": f"/api/organizations/{GLOBEX_ID}", "fault": "status:422"}
    )
    record(client.post(f"/organizations/{GLOBEX_ID}/edit/", globex | oidc | confirm))
    record(client.post(f"/organizations/{GLOBEX_ID}/edit/", globex | oidc | confirm, follow=True))
    # Onboarding: the issuer check holding the form, saved anyway; a lost answer, retried; its pages.
    new = client.get("/onboarding/new/")
    record(new)
    first = {name: hidden_field(new.content.decode(), name) for name in ("form_key", "flow")} | {"name": "Leaky"}
    record(client.post("/onboarding/new/", first | oidc))  # the issuer does not resolve here: held
    sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "drop"})
    lost = client.post("/onboarding/new/", first | oidc | {"save_anyway": "on"})
    record(lost)
    flow = Onboarding.objects.get()
    retry = {"form_key": first["form_key"], "client_secret": SECRET, "save_anyway": "on"}
    record(client.post(f"/onboarding/{flow.pk}/organization/", retry, follow=True))
    record(client.get("/onboarding/"))
    record(client.get(f"/onboarding/{flow.pk}/abandon/"))
    # Delete, the audit log, every entry, the export, the admin's view of entries.
    record(client.get(f"/organizations/{ACME_ID}/delete/"))
    record(client.post(f"/organizations/{ACME_ID}/delete/", {"confirm_name": "Acme Corporation"}, follow=True))
    record(client.get("/audit/"))
    for entry_id in AuditEntry.objects.values_list("id", flat=True):
        record(client.get(f"/audit/{entry_id}/"))
        record(client.get(f"/admin/audit/auditentry/{entry_id}/change/"))
    record(client.get("/audit/export.csv?reads=on"))
    record(client.get("/admin/audit/auditentry/"))
    record(client.get("/healthz"))


def mint_a_key_and_visit_the_people_pages(client: Client, record: Recorder, sandbox) -> str:
    """An API key minted for one of Globex's users: the one page that shows it is left unrecorded;
    every other people page, before and after, and the same form posted again, are recorded."""
    analyst = next(u for u in sandbox.sandbox.users.values() if u.email == "analyst@globex.example")
    people = f"/organizations/{GLOBEX_ID}/users"
    record(client.get(f"{people}/"))
    record(client.get(f"{people}/invite/"))
    form = client.get(f"{people}/{analyst.id}/key/")
    record(form)
    fields = {name: hidden_field(form.content.decode(), name) for name in ("form_key", "once")}
    shown = client.post(f"{people}/{analyst.id}/key/", fields)  # the one page that shows it: not recorded
    assert analyst.api_key in shown.content.decode()
    record(client.post(f"{people}/{analyst.id}/key/", fields))  # posted again, as a reload would
    record(client.get(f"{people}/{analyst.id}/key/"))
    record(client.get(f"{people}/"))
    return analyst.api_key


def keep_credentials_and_resend_them(client: Client, record: Recorder, settings) -> None:
    """Kept OIDC credentials: entered and kept, shown as kept, resent by a rename. Every page recorded."""
    settings.PORTAL_OIDC_CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    url = f"/organizations/{GLOBEX_ID}/edit/"
    typed = {"name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.okta.example",
             "client_id": "kept-client", "client_secret": KEPT_SECRET, "keep_credentials": "on"}  # fmt: skip
    for form in (typed, typed | {"name": "Globex Renamed", "client_secret": ""}):
        page = client.get(url)
        record(page)
        response = client.post(url, form | hidden_fields(page.content.decode()))
        record(response)
        if response.status_code == 200:  # the summary to confirm
            record(client.post(url, form | hidden_fields(response.content.decode()), follow=True))
    record(client.get(f"/organizations/{GLOBEX_ID}/"))
    record(client.get(url))
    assert OidcCredentials.objects.exclude(kept="").exists()


def request_approve_and_check_a_change(client: Client, record: Recorder, settings) -> None:
    """Four eyes: a new OIDC secret waits in a change request; its approval is sent and the entry
    that ends it refused (sent, outcome not known); a check at Polytomic ends it. Every page recorded."""
    settings.PORTAL_FOUR_EYES = True
    url = f"/organizations/{GLOBEX_ID}/edit/"
    typed = {"name": "Globex", "sso_domain": "globex.example", "issuer": "https://moved.okta.example",
             "client_id": "moved-client", "client_secret": SECRET}  # fmt: skip
    summary = client.post(url, typed | hidden_fields(client.get(url).content.decode()))
    record(summary)
    record(client.post(url, typed | hidden_fields(summary.content.decode()) | {"reason": "Moves"}, follow=True))
    change = ChangeRequest.objects.get(organization_id=GLOBEX_ID)
    approver = Client()
    approver.force_login(make_user("approver", role="Admin"))
    with audit_refuses_inserts(action="change.execute"):
        record(approver.post(f"/changes/{change.pk}/decide/", {"decision": "approve"}, follow=True))
    record(approver.get("/changes/"))
    record(approver.post(f"/changes/{change.pk}/check/", follow=True))
    change.refresh_from_db()
    assert change.status == "executed"


def enter_oidc_through_a_setup_link(client: Client, record: Recorder, settings, sandbox) -> None:
    """A customer's setup link: made, opened, the issuer checked, the secret entered (held by the
    failed check, then submitted anyway), the request an Editor approves. Every page recorded."""
    settings.PORTAL_FOUR_EYES = True
    links = f"/organizations/{INITECH_ID}/setup-links/"
    made = client.post(links, {"hours": 1})
    record(made)
    token = re.search(r"/setup/([A-Za-z0-9_-]{43})/", made.content.decode()).group(1)
    customer = Client()
    record(customer.get(f"/setup/{token}/"))
    typed = {"issuer": "https://leak.okta.example", "client_id": "leak-client", "client_secret": SECRET}
    record(customer.post(f"/setup/{token}/check/", {"issuer": typed["issuer"]}))
    record(customer.post(f"/setup/{token}/", typed))
    record(customer.post(f"/setup/{token}/", typed | {"submit_anyway": "on"}))
    record(customer.get(f"/setup/{token}/"))
    record(client.get(links))
    change = ChangeRequest.objects.get(kind="setup")
    editor = Client()
    editor.force_login(make_user("setup-approver", role="Editor"))
    record(editor.get(f"/changes/{change.pk}/"))
    record(editor.post(f"/changes/{change.pk}/decide/", {"decision": "approve"}, follow=True))
    assert ChangeRequest.objects.get(kind="setup").status == "executed"
    [put] = [r for r in sandbox.sandbox.received if r["method"] == "PUT" and r["path"].endswith(INITECH_ID)]
    assert put["body"]["client_secret"] == SECRET  # it reached Polytomic, as it must


@pytest.mark.django_db
def test_no_page_header_log_or_audit_column_holds_a_secret(
    client, sandbox, caplog, settings, audit_stream, django_capture_on_commit_callbacks
):
    assert settings.POLYTOMIC_PARTNER_API_KEY == PARTNER_KEY  # the key the sandbox checks: calls really went out
    client.force_login(make_user("root", role="Admin", is_staff=True, is_superuser=True))
    record = Recorder()
    with caplog.at_level(logging.DEBUG), django_capture_on_commit_callbacks(execute=True):
        drive_every_page(client, record, sandbox)
        minted = mint_a_key_and_visit_the_people_pages(client, record, sandbox)
        keep_credentials_and_resend_them(client, record, settings)
        kept = json.dumps(list(OidcCredentials.objects.values()), default=str)
        request_approve_and_check_a_change(client, record, settings)
        enter_oidc_through_a_setup_link(client, record, settings, sandbox)

    assert sandbox.sandbox.received, "the pages called Polytomic"
    assert any(r["body"] and r["body"].get("client_secret") == SECRET for r in sandbox.sandbox.received), (
        "the secret reached Polytomic, as it must"
    )
    resent = [r for r in sandbox.sandbox.received if r["body"] and r["body"].get("name") == "Globex Renamed"]
    assert resent[0]["body"]["client_secret"] == KEPT_SECRET, "the kept secret reached Polytomic, as it must"
    seen = "\n".join(record.seen)
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    columns = json.dumps(
        [*AuditEntry.objects.values(), *Onboarding.objects.values(), *OnboardingTask.objects.values(),
         *ChangeRequest.objects.values(), *OidcCredentials.objects.values()],
        default=str,
    ) + kept  # fmt: skip
    streamed = "\n".join(audit_stream)
    assert len(audit_stream) == AuditEntry.objects.count()
    session = json.dumps(dict(client.session.items()), default=str)
    for secret in (PARTNER_KEY, SECRET, minted, KEPT_SECRET):
        assert secret not in session
        assert secret not in seen
        assert secret not in logs
        assert secret not in columns
        assert secret not in streamed
    assert "[set]" in columns  # the secret's presence is recorded, not its value
    assert "[set]" in streamed
    assert "[set] resent as kept on" in streamed


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/organizations/new/", f"/organizations/{GLOBEX_ID}/edit/", "/onboarding/new/"])
def test_error_reports_hide_the_secret_and_the_key(client, monkeypatch, url):
    """Views that receive the secret are marked sensitive, so Django's error report masks it."""
    client.force_login(make_user("ed", role="Editor"))

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "organization_create", explode)
    monkeypatch.setattr(onboarding, "create_organization", lambda *args, **kwargs: explode())
    monkeypatch.setattr(edit_guard, "summarise", lambda **kwargs: explode())
    client.raise_request_exception = False
    form = {"name": "Globex", "sso_domain": "globex.example", "issuer": "https://x.okta.example",
            "client_id": "c", "client_secret": SECRET, "form_key": "e" * 32,
            "save_anyway": "on"}  # fmt: skip  # the issuer (not resolvable here) fails the create forms' check
    if "edit" in url:
        form |= {"opened": hidden_field(client.get(url).content.decode(), "opened")}
    if "onboarding" in url:
        form |= {"flow": hidden_field(client.get(url).content.decode(), "flow")}
    raised = []

    def keep(sender, request, **kwargs):
        raised.append((request, sys.exc_info()))

    got_request_exception.connect(keep)
    try:
        response = client.post(url, form)
    finally:
        got_request_exception.disconnect(keep)
    assert response.status_code == 500
    assert SECRET not in response.content.decode()
    request, exc_info = raised[0]
    assert request.sensitive_post_parameters == ("client_secret",)
    # The report Django would mail or show, with the view's frames and their local variables.
    reporter = ExceptionReporter(request, *exc_info)
    assert "explode" in reporter.get_traceback_text()
    for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
        assert SECRET not in report
        assert PARTNER_KEY not in report  # settings named *KEY* are masked by Django


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
@pytest.mark.parametrize("operation", ["create", "update", "read"])
def test_a_failure_below_the_client_shows_neither_the_key_nor_the_secret(
    client, monkeypatch, settings, debug, operation
):
    """Raised in urllib3, where the body (with the secret) and the headers (with the key) are local
    variables of every frame: neither the DEBUG page nor the report Django would mail shows them."""
    client.force_login(make_user("ed", role="Editor"))
    # The issuer (not resolvable here) fails the create form's check: saved anyway.
    oidc = {"issuer": "https://x.okta.example", "client_id": "c", "client_secret": SECRET, "save_anyway": "on"}
    if operation == "update":
        opened = hidden_field(client.get(f"/organizations/{GLOBEX_ID}/edit/").content.decode(), "opened")
        summary = client.post(
            f"/organizations/{GLOBEX_ID}/edit/",
            {"name": "Globex", "sso_domain": "globex.example", "form_key": "u" * 32, "opened": opened} | oidc,
        )
        confirm = hidden_field(summary.content.decode(), "confirm")
    settings.DEBUG = debug

    def explode(self, conn, method, url, body=None, headers=None, **kwargs):
        raise RuntimeError("the transport failed")

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "_make_request", explode)
    client.raise_request_exception = False
    raised = []

    def keep(sender, request, **kwargs):
        raised.append((request, sys.exc_info()))

    got_request_exception.connect(keep)
    try:
        if operation == "create":
            response = client.post("/organizations/new/", {"name": "Boom", "form_key": "b" * 32} | oidc)
        elif operation == "update":
            form = {"name": "Globex", "sso_domain": "globex.example", "form_key": "u" * 32}
            response = client.post(
                f"/organizations/{GLOBEX_ID}/edit/", form | oidc | {"opened": opened, "confirm": confirm}
            )
        else:
            response = client.get(f"/organizations/{ACME_ID}/")
    finally:
        got_request_exception.disconnect(keep)

    assert response.status_code == 500
    request, exc_info = raised[-1]
    reporter = ExceptionReporter(request, *exc_info)
    reports = [response.content.decode(), reporter.get_traceback_text(), reporter.get_traceback_html()]
    assert "the transport failed" in reports[1]
    if debug:
        assert "the transport failed" in reports[0]  # the DEBUG page, with the frames' variables
    for report in reports:
        assert PARTNER_KEY not in report
        assert SECRET not in report


@pytest.mark.parametrize(
    "encode",
    [
        lambda key: f"Basic {base64.b64encode(f'{OWNER_ID}:{key}'.encode()).decode()}",
        lambda key: base64.urlsafe_b64encode(key.encode()).decode(),
        lambda key: f"https://polytomic.example/?key={urllib.parse.quote(key, safe='')}",
        lambda key: key.encode().hex(),
    ],
    ids=["basic credentials", "base64url", "percent-encoded", "hex"],
)
def test_error_reports_hide_a_variable_holding_the_key_encoded(rf, encode):
    """Code outside the client's sensitive frames (a library, a command) may hold the key
    encoded, as HTTP Basic credentials do: the report hides such a variable too."""

    def fail(credentials: str) -> None:
        raise RuntimeError("the call failed")

    try:
        fail(encode(PARTNER_KEY))
    except RuntimeError:
        reporter = ExceptionReporter(rf.get("/"), *sys.exc_info())
    text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    assert "the call failed" in text
    assert "credentials" in html  # the frame's variable is listed, its value hidden
    for report in (text, html):
        assert encode(PARTNER_KEY) not in report
        assert html_escape(encode(PARTNER_KEY)) not in report
