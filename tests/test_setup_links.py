"""Customer setup links: a customer's IT admin enters their OIDC through a one-time link; what
they enter waits as a change request that only another Editor or Admin can approve, and only then
goes to Polytomic, in full, once."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID
from orgadmin.change_requests.steps import ENCRYPTION_PURPOSE
from orgadmin.models import ChangeRequest, SetupLink
from staff.encryption import fernet
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SECRET = "customer-secret-9SETUPLINK"
LINKS = reverse("orgadmin:setup-links", args=[ACME_ID])
LINK_IN_PAGE = re.compile(r'value="(http://testserver/setup/([A-Za-z0-9_-]{43})/)"')


@pytest.fixture(autouse=True)
def _settings(customer_identity_provider, settings):
    settings.PORTAL_FOUR_EYES = True
    settings.PORTAL_PARTNER_NAME = "Northwind Data"


@pytest.fixture
def maker(client):
    client.force_login(make_user("mia", role="Editor"))
    return client


@pytest.fixture
def other_editor():
    browser = Client()
    browser.force_login(make_user("eve", role="Editor"))
    return browser


def make_link(client, **form) -> str:
    """mia makes a link for Acme; its token, as the page shows it once."""
    page = client.post(LINKS, {"hours": 72, **form}).content.decode()
    found = LINK_IN_PAGE.search(page)
    assert found, page
    return found.group(2)


def good_issuer(sandbox) -> str:
    return f"{sandbox.tls_url}/_idp/good"


def entered(sandbox, **fields) -> dict:
    return {"issuer": good_issuer(sandbox), "client_id": "acme-okta-client", "client_secret": SECRET, **fields}


def customer() -> Client:
    return Client(REMOTE_ADDR="203.0.113.7")


def writes(sandbox) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] in ("POST", "PUT", "DELETE")]


class MakingTests:
    def test_the_link_is_shown_once_and_kept_only_as_its_hash(self, maker):
        token = make_link(maker)
        link = SetupLink.objects.get()
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (link.organization_id, link.organization_name, link.created_by.username) == (
            ACME_ID, "Acme Corporation", "mia",
        )  # fmt: skip
        assert timedelta(hours=71, minutes=59) < link.expires_at - link.created_at <= timedelta(hours=72)
        assert token not in maker.get(LINKS).content.decode()  # never again
        with connection.cursor() as cursor:  # nowhere in the database either
            for table in ("orgadmin_setuplink", "orgadmin_auditentry"):
                cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
                assert token not in json.dumps(cursor.fetchall(), default=str)
        entry = AuditEntry.objects.get(action="setup_link.create")
        assert (entry.actor_username, entry.organization_id, entry.request_body["setup_link"]) == (
            "mia",
            ACME_ID,
            link.pk,
        )

    def test_a_link_lives_at_most_seven_days(self, maker):
        response = maker.post(LINKS, {"hours": 169})
        assert response.status_code == 422
        assert "Ensure this value is less than or equal to 168" in response.content.decode()
        assert not SetupLink.objects.exists()

    def test_the_link_is_on_the_public_setup_host_when_one_is_set(self, maker, settings):
        settings.PORTAL_SETUP_LINK_BASE_URL = "https://setup.northwind.example"
        page = maker.post(LINKS, {"hours": 1}).content.decode()
        assert re.search(r'value="https://setup\.northwind\.example/setup/[A-Za-z0-9_-]{43}/"', page)

    def test_viewers_cannot_make_links(self, client):
        client.force_login(make_user("vera", role="Viewer"))
        assert client.get(LINKS).status_code == 403
        assert client.post(LINKS, {"hours": 1}).status_code == 403
        assert not SetupLink.objects.exists()

    def test_revoking_refuses_the_link_afterwards(self, maker):
        token = make_link(maker)
        link = SetupLink.objects.get()
        revoked = maker.post(reverse("orgadmin:setup-link-revoke", args=[ACME_ID, link.pk]), follow=True)
        assert f"Setup link #{link.pk} is revoked" in revoked.content.decode()
        assert SetupLink.objects.get().state == SetupLink.State.REVOKED
        assert customer().get(f"/setup/{token}/").status_code == 404
        again = maker.post(reverse("orgadmin:setup-link-revoke", args=[ACME_ID, link.pk]), follow=True)
        assert "can no longer be revoked: it is revoked" in again.content.decode()
        assert AuditEntry.objects.filter(action="setup_link.revoke").count() == 1


class PageTests:
    def test_the_page_names_partner_and_organization_and_what_to_register(self, maker, settings):
        token = make_link(maker)
        response = customer().get(f"/setup/{token}/")
        page = response.content.decode()
        assert response.status_code == 200
        assert "Set up single sign-on for Acme Corporation" in page
        assert "Northwind Data" in page
        assert settings.PORTAL_CUSTOMER_OIDC_REDIRECT_URI in page
        assert "data-unconfirmed" in page
        settings.PORTAL_CUSTOMER_OIDC_REDIRECT_URI_CONFIRMED = True
        assert "data-unconfirmed" not in customer().get(f"/setup/{token}/").content.decode()

    def test_the_page_reveals_nothing_of_the_portal(self, maker, sandbox):
        token = make_link(maker)
        page = customer().get(f"/setup/{token}/").content.decode()
        hrefs = re.findall(r'(?:href|src|action)="([^"]*)"', page)
        assert hrefs == ["/setup/check.js"]  # its one script, under /setup/; the form posts to its own address
        for other in ("Globex", "mia", "/organizations/", "/static/", "Sign in"):
            assert other not in page

    def test_its_own_strict_policy_no_cookie_no_referrer_no_cache(self, maker):
        token = make_link(maker)
        response = customer().get(f"/setup/{token}/")
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        nonce = re.search(r"'nonce-([^']+)'", policy["style-src"]).group(1)
        assert policy == {
            "default-src": "'none'", "style-src": f"'nonce-{nonce}'", "script-src": "'self'",
            "connect-src": "'self'", "form-action": "'self'", "img-src": "'none'", "base-uri": "'none'",
            "frame-ancestors": "'none'",
        }  # fmt: skip
        page = response.content.decode()
        assert page.count(f'nonce="{nonce}"') == 1  # its one style: nothing else inline
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/setup/check.js" defer>']
        script = customer().get("/setup/check.js")
        assert (script.status_code, script["Content-Type"]) == (200, "text/javascript; charset=utf-8")
        assert b"fetch(form.dataset.checkUrl" in script.content
        assert response.cookies == {}
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
        refused = customer().get("/setup/" + "x" * 43 + "/")
        assert refused.cookies == {}
        assert "default-src 'none'" in refused["Content-Security-Policy"]

    def test_a_staff_session_is_neither_used_nor_touched(self, maker):
        token = make_link(maker)
        response = maker.get(f"/setup/{token}/")  # mia opens the link in her own browser
        assert response.status_code == 200
        assert "sessionid" not in response.cookies
        entry = AuditEntry.objects.get(action="setup_link.open")
        assert entry.actor_id is None
        assert entry.actor_username == f"customer via setup link #{SetupLink.objects.get().pk} of mia"

    def test_opening_is_recorded_once(self, maker):
        token = make_link(maker)
        for _ in range(3):
            assert customer().get(f"/setup/{token}/").status_code == 200
        assert AuditEntry.objects.filter(action="setup_link.open").count() == 1
        assert SetupLink.objects.get().state == SetupLink.State.OPENED

    def test_the_page_takes_a_fixed_number_of_queries(self, maker):
        token = make_link(maker)
        customer().get(f"/setup/{token}/")
        with CaptureQueriesContext(connection) as queries:
            assert customer().get(f"/setup/{token}/").status_code == 200
        assert len(queries) <= 3, [q["sql"] for q in queries]


class RefusalTests:
    @pytest.mark.parametrize("token", ["x" * 43, "short", "a" * 400, "%00", "ab%2F..%2F"])
    def test_a_wrong_token_gets_the_one_plain_page(self, token):
        response = customer().get(f"/setup/{token}/")
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()

    def test_an_expired_link_is_refused(self, maker):
        token = make_link(maker, hours=1)
        with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
            assert customer().get(f"/setup/{token}/").status_code == 404
            assert customer().post(f"/setup/{token}/", {}).status_code == 404
            assert SetupLink.objects.get().state == SetupLink.State.EXPIRED

    def test_the_expire_command_records_each_expiry_once(self, maker):
        make_link(maker, hours=1)
        make_link(maker, hours=5)
        with time_machine.travel(timezone.now() + timedelta(hours=2)):
            call_command("expire_change_requests", stdout=io.StringIO())
            call_command("expire_change_requests", stdout=io.StringIO())
        entries = AuditEntry.objects.filter(action="setup_link.expire")
        assert [e.request_body["setup_link"] for e in entries] == [SetupLink.objects.order_by("pk").first().pk]

    def test_too_many_wrong_tokens_from_one_address_are_refused_for_the_hour(self, maker, settings):
        settings.PORTAL_SETUP_LINK_MISSES_PER_HOUR = 5
        token = make_link(maker)
        statuses = [customer().get(f"/setup/{'y' * 42}{n}/").status_code for n in range(7)]
        assert statuses == [404] * 5 + [429] * 2
        refused = customer().get(f"/setup/{token}/")  # a right one too, from that address
        assert refused.status_code == 429
        assert "Too many attempts" in refused.content.decode()
        assert Client(REMOTE_ADDR="198.51.100.9").get(f"/setup/{token}/").status_code == 200  # another address
        with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
            assert customer().get(f"/setup/{token}/").status_code == 200


class SubmissionTests:
    def test_a_submission_waits_for_another_editor_and_then_sends_the_full_block_once(
        self, maker, other_editor, sandbox
    ):
        token = make_link(maker)
        thanks = customer().post(f"/setup/{token}/", entered(sandbox))
        assert thanks.status_code == 200
        assert "your settings are with Northwind Data" in thanks.content.decode()
        assert writes(sandbox) == []  # nothing goes to Polytomic on the customer's word
        change = ChangeRequest.objects.get()
        assert (change.kind, change.requested_by.username, change.organization_id) == ("setup", "mia", ACME_ID)
        assert SECRET not in json.dumps(change.body)
        assert SECRET not in change.secret
        assert json.loads(fernet(ENCRYPTION_PURPOSE).decrypt(change.secret.encode())) == {"client_secret": SECRET}
        assert change.summary["issuer_check"]["passed"] is True
        link = SetupLink.objects.get()
        assert (link.state, link.change_request_id) == (SetupLink.State.SUBMITTED, change.pk)
        assert customer().get(f"/setup/{token}/").status_code == 404  # used up

        page = maker.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Approve and send" not in page  # its maker asked for it: someone else decides
        refused = maker.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True)
        assert "another person must decide it" in refused.content.decode()
        assert writes(sandbox) == []

        page = other_editor.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Entered by the customer through setup link" in page
        assert f"the customer via setup link #{SetupLink.objects.get().pk}, made by mia" in page
        queue = other_editor.get(reverse("orgadmin:change-list")).content.decode()
        assert f"the customer via setup link #{SetupLink.objects.get().pk}, made by mia" in queue
        assert "confirm with the customer" in page
        assert "Approve and send" in page
        done = other_editor.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        assert done.status_code == 302
        assert ChangeRequest.objects.get().status == ChangeRequest.Status.EXECUTED
        [put] = writes(sandbox)
        assert (put["method"], put["path"]) == ("PUT", f"/api/organizations/{ACME_ID}")
        assert put["body"] == {
            "name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME",
            "issuer": good_issuer(sandbox), "client_id": "acme-okta-client", "client_secret": SECRET,
        }  # fmt: skip
        stored = sandbox.sandbox.organizations[ACME_ID]
        assert (stored.issuer, stored.client_id, stored.client_secret) == (
            good_issuer(sandbox), "acme-okta-client", SECRET,
        )  # fmt: skip

    def test_every_step_is_recorded_with_both_sides_named(self, maker, other_editor, sandbox):
        token = make_link(maker)
        customer().get(f"/setup/{token}/")
        customer().post(f"/setup/{token}/", entered(sandbox))
        change = ChangeRequest.objects.get()
        other_editor.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        label = f"customer via setup link #{SetupLink.objects.get().pk} of mia"
        steps = [
            (e.action, e.actor_username, e.request_body.get("created_by") or e.request_body.get("requested_by"))
            for e in AuditEntry.objects.order_by("pk")
            if e.action.startswith(("setup_link.", "change."))
        ]
        assert steps == [
            ("setup_link.create", "mia", "mia"),
            ("setup_link.open", label, "mia"),
            ("change.request", label, "mia"),
            ("setup_link.submit", label, "mia"),
            ("change.approve", "eve", "mia"),
            ("change.execute", "eve", "mia"),
        ]
        dumped = json.dumps([e.request_body for e in AuditEntry.objects.all()])
        assert SECRET not in dumped
        assert all(e.actor_signin == "setup link" for e in AuditEntry.objects.filter(actor_username=label))

    def test_a_failed_issuer_check_holds_the_submission_until_confirmed(self, maker, sandbox):
        token = make_link(maker)
        typed = entered(sandbox, issuer=f"{sandbox.tls_url}/_idp/trailing-slash")
        held = customer().post(f"/setup/{token}/", typed)
        assert held.status_code == 422
        page = held.content.decode()
        assert "The issuer check found a problem" in page
        assert SECRET not in page  # never rendered back
        assert 'value="acme-okta-client"' in page  # the rest kept
        assert not ChangeRequest.objects.exists()
        done = customer().post(f"/setup/{token}/", typed | {"submit_anyway": "on"})
        assert done.status_code == 200
        assert ChangeRequest.objects.get().summary["issuer_check"]["passed"] is False

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("issuer", "http://acme.okta.example", "Enter an https:// URL"),
            ("issuer", "", "This field is required."),
            ("client_id", "", "This field is required."),
            ("client_secret", "", "This field is required."),
            ("client_id", "x" * 256, "at most 255 characters"),
        ],
    )
    def test_bad_input_is_named_on_its_field_and_nothing_is_asked(self, maker, sandbox, field, value, message):
        token = make_link(maker)
        response = customer().post(f"/setup/{token}/", entered(sandbox, **{field: value}))
        assert response.status_code == 422
        assert message in response.content.decode()
        assert not ChangeRequest.objects.exists()
        assert SetupLink.objects.get().state != SetupLink.State.SUBMITTED

    def test_a_submission_for_an_organization_changed_meanwhile_is_void(self, maker, other_editor, sandbox):
        token = make_link(maker)
        customer().post(f"/setup/{token}/", entered(sandbox))
        sandbox.sandbox.organizations[ACME_ID].sso_domain = "acme-renamed.example"  # someone else, at Polytomic
        change = ChangeRequest.objects.get()
        page = other_editor.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Approving it would send nothing" in page
        other_editor.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "reject", "comment": "x"})
        assert ChangeRequest.objects.get().status == ChangeRequest.Status.REJECTED
        assert writes(sandbox) == []

    def test_approving_after_a_change_meanwhile_voids_it_and_sends_nothing(self, maker, other_editor, sandbox):
        token = make_link(maker)
        customer().post(f"/setup/{token}/", entered(sandbox))
        change = ChangeRequest.objects.get()
        other_editor.get(reverse("orgadmin:change-detail", args=[change.pk]))
        sandbox.sandbox.organizations[ACME_ID].name = "Acme Holdings"
        other_editor.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        assert ChangeRequest.objects.get().status == ChangeRequest.Status.VOID
        assert writes(sandbox) == []

    def test_a_second_submission_while_one_waits_is_refused_and_its_link_kept(self, maker, sandbox):
        first, second = make_link(maker), make_link(maker)
        customer().post(f"/setup/{first}/", entered(sandbox))
        refused = customer().post(f"/setup/{second}/", entered(sandbox))
        assert refused.status_code == 409
        assert "already wait for Northwind Data's review" in html.unescape(refused.content.decode())
        assert ChangeRequest.objects.count() == 1
        assert SetupLink.objects.get(change_request__isnull=True).usable

    def test_polytomic_failing_keeps_the_input_and_the_link(self, maker, sandbox):
        token = make_link(maker)
        failing = {"method": "GET", "path": f"/api/organizations/{ACME_ID}", "fault": "status:503"}
        sandbox.sandbox.faults.queue.extend([failing] * 10)  # more than the client's retries
        response = customer().post(f"/setup/{token}/", entered(sandbox))
        sandbox.sandbox.faults.queue.clear()
        assert response.status_code == 503
        page = response.content.decode()
        assert "nothing was saved" in page
        assert 'value="acme-okta-client"' in page
        assert SECRET not in page
        assert SetupLink.objects.get().usable

    def test_an_admin_without_the_link_decides_too_and_a_viewer_cannot(self, maker, sandbox):
        token = make_link(maker)
        customer().post(f"/setup/{token}/", entered(sandbox))
        change = ChangeRequest.objects.get()
        viewer = Client()
        viewer.force_login(make_user("vic", role="Viewer"))
        assert (
            viewer.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}).status_code == 403
        )
        admin = Client()
        admin.force_login(make_user("ada", role="Admin"))
        admin.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "reject", "comment": "not them"})
        assert ChangeRequest.objects.get().status == ChangeRequest.Status.REJECTED
        assert ChangeRequest.objects.get().secret == ""


class CheckTests:
    def test_the_live_check_answers_in_words(self, maker, sandbox):
        token = make_link(maker)
        answer = customer().post(f"/setup/{token}/check/", {"issuer": good_issuer(sandbox)})
        assert answer.status_code == 200
        assert answer.json() == {
            "passed": True,
            "message": f"The issuer answers as expected: its discovery document names exactly {good_issuer(sandbox)}, "
            "and sign-in goes to login.good.example.",
        }
        bad = customer().post(f"/setup/{token}/check/", {"issuer": "ftp://x"})
        assert (bad.status_code, bad.json()["passed"]) == (422, False)
        assert customer().post("/setup/" + "z" * 43 + "/check/", {"issuer": good_issuer(sandbox)}).status_code == 404
        entry = AuditEntry.objects.get(action="issuer.check")
        assert entry.actor_username.startswith("customer via setup link #")

    def test_a_link_asks_for_a_bounded_number_of_checks(self, maker, sandbox, monkeypatch):
        from orgadmin.setup_links import customer as customer_side

        monkeypatch.setattr(customer_side, "CHECKS_PER_LINK_PER_HOUR", 2)
        token = make_link(maker)
        answers = [customer().post(f"/setup/{token}/check/", {"issuer": good_issuer(sandbox)}).json() for _ in range(3)]
        assert [a["passed"] for a in answers] == [True, True, False]
        assert "Too many checks" in answers[2]["message"]
        assert AuditEntry.objects.filter(action="issuer.check").count() == 2


def test_the_staff_page_takes_a_fixed_number_of_queries(maker):
    for _ in range(3):
        make_link(maker)
    with CaptureQueriesContext(connection) as few:
        maker.get(LINKS)
    for _ in range(5):
        make_link(maker)
    with CaptureQueriesContext(connection) as many:
        maker.get(LINKS)
    assert len(many) == len(few)
    assert len(few) <= 12, [q["sql"] for q in few]


def test_the_organization_page_offers_setup_links_to_editors_only(maker, client):
    page = maker.get(reverse("orgadmin:organization-detail", args=[GLOBEX_ID])).content.decode()
    assert reverse("orgadmin:setup-links", args=[GLOBEX_ID]) in page
    viewer = Client()
    viewer.force_login(make_user("vic", role="Viewer"))
    page = viewer.get(reverse("orgadmin:organization-detail", args=[GLOBEX_ID])).content.decode()
    assert reverse("orgadmin:setup-links", args=[GLOBEX_ID]) not in page


class MailTests:
    def test_the_link_is_mailed_naming_partner_organization_and_expiry(self, maker, mail_server):
        token = make_link(maker, email="it-admin@acme.example", hours=48)
        [message] = mail_server.to("it-admin@acme.example")
        link = SetupLink.objects.get()
        assert message.subject == "Northwind Data: set up single sign-on for Acme Corporation"
        assert f"http://testserver/setup/{token}/" in message.body
        assert f"until {link.expires_at:%Y-%m-%d %H:%M} UTC" in message.body
        assert link.emailed_at is not None
        entry = AuditEntry.objects.get(action="setup_link.email")
        assert (entry.outcome, entry.request_body["to"], entry.request_body["sent"]) == (
            "ok", "it-admin@acme.example", True,
        )  # fmt: skip
        assert token not in json.dumps(entry.request_body)

    def test_a_refused_mail_says_so_and_the_link_stands(self, maker, mail_server):
        mail_server.refusal = "554 5.7.1 Refused"
        page = maker.post(LINKS, {"hours": 1, "email": "it-admin@acme.example"}).content.decode()
        assert "It could not be emailed to it-admin@acme.example" in page
        assert LINK_IN_PAGE.search(page)  # shown, to be sent another way
        assert SetupLink.objects.get().emailed_at is None
        assert AuditEntry.objects.get(action="setup_link.email").outcome == "failed"

    def test_without_mail_the_address_cannot_be_given(self, maker):
        page = maker.get(LINKS).content.decode()
        assert "Mail is not set up in this portal" in page
        maker.post(LINKS, {"hours": 1, "email": "it-admin@acme.example"})
        assert SetupLink.objects.get().email == ""
        assert not AuditEntry.objects.filter(action="setup_link.email").exists()

    def test_a_submission_mails_the_editors_and_admins_but_the_maker(
        self, maker, sandbox, mail_server, django_capture_on_commit_callbacks
    ):
        make_user("eve", role="Editor", email="eve@northwind.example")
        make_user("ada", role="Admin", email="ada@northwind.example")
        make_user("vic", role="Viewer", email="vic@northwind.example")
        User.objects.filter(username="mia").update(email="mia@northwind.example")
        token = make_link(maker)
        with django_capture_on_commit_callbacks(execute=True):
            customer().post(f"/setup/{token}/", entered(sandbox))
        [waiting] = mail_server.received
        assert sorted(waiting.recipients) == ["ada@northwind.example", "eve@northwind.example"]
        assert "Acme Corporation" in waiting.body
        assert SECRET not in waiting.text
        assert "acme-okta-client" not in waiting.text


@pytest.mark.parametrize("path", ["/organizations/", "/accounts/login/", "/admin/", "/audit/", "/static/x.css"])
def test_the_public_setup_host_serves_nothing_but_the_setup_pages(settings, path):
    settings.PORTAL_SETUP_LINK_BASE_URL = "https://setup.northwind.example"
    settings.ALLOWED_HOSTS = ["testserver", "setup.northwind.example"]
    public = Client(HTTP_HOST="setup.northwind.example")  # a new client reads the setting anew
    response = public.get(path)
    assert (response.status_code, response.content) == (404, b"Not found.")
    refused = public.get("/setup/" + "q" * 43 + "/")  # the setup pages answer there
    assert b"This link is not valid" in refused.content
    assert Client().get("/accounts/login/").status_code == 200  # the staff host is as it was


@pytest.mark.parametrize("keeping", [True, False], ids=["keeping-on", "keeping-off"])
def test_once_sent_the_credentials_are_kept_where_keeping_is_on(maker, other_editor, sandbox, settings, keeping):
    from cryptography.fernet import Fernet

    from orgadmin.organizations import credentials
    from orgadmin.polytomic.fields import OrganizationInput

    settings.PORTAL_OIDC_CREDENTIALS_KEYS = [Fernet.generate_key().decode()] if keeping else []
    token = make_link(maker)
    customer().post(f"/setup/{token}/", entered(sandbox))
    change = ChangeRequest.objects.get()
    other_editor.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
    kept = credentials.kept_credentials(ACME_ID)
    if keeping:
        assert kept is not None
        assert kept.kept_by == "mia"
        resent = credentials.with_kept_credentials(ACME_ID, OrganizationInput(name="Acme Corporation"))
        assert (resent.client_id, resent.client_secret) == ("acme-okta-client", SECRET)
    else:
        assert kept is None


def test_of_two_submissions_through_one_link_only_the_first_is_taken(maker, sandbox):
    """Two browsers post the same link at once: each found it usable; the second to reach the
    guarded update finds it used, and asks for nothing."""
    from django.test import RequestFactory

    from orgadmin.setup_links import customer as customer_side
    from orgadmin.setup_links.links import LinkClosed

    token = make_link(maker)
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.7")
    first, second = customer_side.found(request, token), customer_side.found(request, token)
    typed = customer_side.Entered(
        issuer=good_issuer(sandbox), client_id="acme-okta-client", client_secret=SECRET, check=None
    )
    customer_side.submit(customer_side.customer_context(request, first), first, typed)
    with pytest.raises(LinkClosed):
        customer_side.submit(customer_side.customer_context(request, second), second, typed)
    assert ChangeRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="setup_link.submit").count() == 1
