"""The mail the portal sends (orgadmin/mail.py), to a real SMTP server on loopback, and mail where
people wait (orgadmin/change_requests/notify.py): the staff who may decide a change request are
told once when it starts waiting, its requester when it is decided; never a secret, nothing with
mail off, and a mail that fails never fails the step.

The steps' mail goes once their transaction commits: each test runs the pages inside
`django_capture_on_commit_callbacks(execute=True)`, which runs the callbacks at its end, as the
commit would (a rolled-back step's are dropped)."""

from __future__ import annotations

import logging
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.support import free_port, hidden_fields
from orgadmin import mail
from orgadmin.change_requests import notify
from orgadmin.models import ChangeRequest
from tests.factories import make_user
from tests.support import audit_refuses_inserts, peers

pytestmark = pytest.mark.django_db

NEW_SECRET = "rotated-oidc-secret-4MAILSCAN"
NEW_CLIENT_ID = "entra-client-4MAILSCAN"
CHANGE_PAGE = "https://portal.example/changes/{}/"
TITLE = "Change issuer URL, client id"  # the change's title: its fields, never their values


@pytest.fixture(autouse=True)
def _four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True


@pytest.fixture
def staff():
    """The requester, those who may decide (by role, their own permission, as superuser), and
    those who may not, or cannot be mailed."""
    approve = Permission.objects.get(codename="approve_change_request", content_type__app_label="orgadmin")
    people = {
        "ed": make_user("ed", role="Editor", email="ed@partner.example"),
        "ada": make_user("ada", role="Admin", email="ada@partner.example"),
        "bob": make_user("bob", role="Admin", email="bob@partner.example"),
        "sam": make_user("sam", email="sam@partner.example", is_superuser=True),
        "uma": make_user("uma", role="Editor", email="uma@partner.example"),
        "eve": make_user("eve", role="Editor", email="eve@partner.example"),
        "cy": make_user("cy", role="Admin"),  # no address
        "dee": make_user("dee", role="Admin", email="dee@partner.example", is_active=False),
    }
    people["uma"].user_permissions.add(approve)
    return people


DECIDERS = ["ada@partner.example", "bob@partner.example", "sam@partner.example", "uma@partner.example"]


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def request_a_new_issuer(browser: Client) -> ChangeRequest:
    """Globex's OIDC pointed at another identity provider, with a new client id and secret: the
    summary confirmed, the reason given, the request recorded."""
    url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
    typed = {
        "name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.entra.example",
        "client_id": NEW_CLIENT_ID, "client_secret": NEW_SECRET,
    }  # fmt: skip
    answer = browser.post(url, typed | hidden_fields(browser.get(url).content.decode()))
    for _ in range(2):
        if answer.status_code == 302:
            break
        answer = browser.post(url, typed | hidden_fields(answer.content.decode()) | {"reason": "Globex moves (4711)"})
    assert answer.status_code == 302
    return ChangeRequest.objects.get()


def decide(browser: Client, change: ChangeRequest, decision: str) -> None:
    browser.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": decision, "comment": "Checked"})


class SendTests:
    def test_one_plain_text_message_goes_to_the_server(self, mail_server):
        sent = mail.send(subject="Hello", body="One line.\nAnother.", to=["ada@partner.example"], what="a test")
        assert sent is True
        [received] = mail_server.received
        assert (received.sender, received.recipients) == ("portal@portal.example", ["ada@partner.example"])
        assert received.message["from"] == "Organization portal <portal@portal.example>"
        assert received.message.get_content_type() == "text/plain"
        assert (received.subject, received.body.strip()) == ("Hello", "One line.\nAnother.")

    def test_a_subject_with_line_breaks_goes_as_one_line(self, mail_server):
        assert mail.send(subject="Globex\r\nBcc: x@evil.example", body="b", to=["ada@partner.example"], what="t")
        [received] = mail_server.received
        assert received.subject == "Globex Bcc: x@evil.example"
        assert received.recipients == ["ada@partner.example"]

    def test_with_mail_off_nothing_is_sent(self, mail_server, settings):
        settings.PORTAL_MAIL_ON = False
        assert mail.mail_on() is False
        assert mail.send(subject="Hello", body="b", to=["ada@partner.example"], what="t") is False
        assert mail_server.received == []

    def test_with_nobody_to_send_to_nothing_is_sent(self, mail_server):
        assert mail.send(subject="Hello", body="b", to=[], what="t") is False
        assert mail_server.received == []

    def test_a_refusing_server_is_logged_with_its_cause_never_the_body(self, mail_server, caplog):
        mail_server.refusal = "554 5.7.1 Refused by policy"
        with caplog.at_level(logging.INFO, logger="orgadmin.mail"):
            sent = mail.send(subject="Hello", body="the-body-4LOG", to=["ada@partner.example"], what="a test")
        assert sent is False
        [record] = [r for r in caplog.records if r.name == "orgadmin.mail"]
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith("Mail not sent: a test, to 1 address(es): SMTPDataError: (554,")
        assert "Refused by policy" in record.getMessage()
        assert "the-body-4LOG" not in caplog.text

    def test_a_server_that_is_down_is_logged(self, mail_server, settings, caplog):
        settings.EMAIL_PORT = free_port()
        assert mail.send(subject="Hello", body="b", to=["ada@partner.example"], what="a test") is False
        assert "Mail not sent: a test, to 1 address(es): ConnectionRefusedError" in caplog.text

    def test_a_server_that_never_answers_is_left_after_the_timeout(self, mail_server, settings, caplog):
        with peers() as start:
            silent = start(lambda connection, peer: peer.stopping.wait(30))
            settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = silent.port, 0.5
            began = time.monotonic()
            assert mail.send(subject="Hello", body="b", to=["ada@partner.example"], what="a test") is False
            assert time.monotonic() - began < 5
        assert (
            "Mail not sent: a test, to 1 address(es): SMTPServerDisconnected: Connection unexpectedly closed: timed out"
            in (caplog.text)
        )

    def test_links_are_absolute_at_the_portals_address(self, mail_server):
        assert mail.portal_url("/changes/7/") == "https://portal.example/changes/7/"


class WaitingTests:
    def test_each_decider_is_mailed_once_after_commit_and_nobody_else(
        self, mail_server, staff, sandbox, django_capture_on_commit_callbacks
    ):
        staff["bob"].first_name, staff["bob"].last_name = "Bob", "Baker"
        staff["bob"].save()
        with django_capture_on_commit_callbacks(execute=True):
            change = request_a_new_issuer(signed_in(staff["bob"]))  # an Admin: one who may decide others'
            assert mail_server.received == []  # not before the request is committed
        [received] = mail_server.received
        assert sorted(received.recipients) == ["ada@partner.example", "sam@partner.example", "uma@partner.example"]
        assert mail_server.to("bob@partner.example") == []  # not its requester
        assert received.subject == f"Change request #{change.pk} for Globex waits for a decision: {TITLE}"
        expires = f"{change.expires_at:%Y-%m-%d %H:%M} UTC"
        assert received.body == (
            "Bob Baker asks for a change to Globex that waits for a second person:\n\n"
            f"    {TITLE}\n\n"
            f"Review it and approve or reject it before {expires}, when it expires:\n\n"
            f"{CHANGE_PAGE.format(change.pk)}\n\n"
            "You are sent this because you may decide change requests in the organization portal.\n"
        )

    def test_a_request_the_audit_log_refused_is_not_announced(
        self, mail_server, staff, sandbox, django_capture_on_commit_callbacks
    ):
        browser = signed_in(staff["ada"])
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        with django_capture_on_commit_callbacks(execute=True), audit_refuses_inserts(action="change.request"):
            browser.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"})
        assert not ChangeRequest.objects.exists()
        assert mail_server.received == []

    def test_deciders_are_found_in_one_query_however_many(self, staff, django_assert_num_queries):
        for n in range(20):
            make_user(f"admin{n}", role="Admin", email=f"admin{n}@partner.example")
        change = ChangeRequest(kind="delete", requested_by=staff["ed"])
        with django_assert_num_queries(1):
            addresses = notify.deciders(change)
        assert len(addresses) == 24
        assert set(DECIDERS) <= set(addresses)

    def test_the_deciding_permission_says_who_is_asked(self, staff):
        """A kind whose deciders hold another permission asks them (the customer's setup link's
        submission will be decided by Editors and Admins)."""
        change = ChangeRequest(kind="delete", requested_by=staff["ed"])
        assert change.deciding_permission == "orgadmin.approve_change_request"
        change.DECIDING_PERMISSION = {"delete": "orgadmin.change_organization"}
        assert notify.deciders(change) == [
            "ada@partner.example", "bob@partner.example", "eve@partner.example", "sam@partner.example",
            "uma@partner.example",
        ]  # fmt: skip


class DecidedTests:
    @pytest.mark.parametrize(
        ("decision", "fault", "outcome"),
        [
            ("approve", None, "Approved and done"),
            ("approve", {"status": 422, "body": {"status": 422, "message": "issuer unreachable"}},
             "Approved, Polytomic failed"),
            ("reject", None, "Rejected"),
        ],
    )  # fmt: skip
    def test_the_requester_is_mailed_the_outcome_once(
        self, mail_server, staff, sandbox, django_capture_on_commit_callbacks, decision, fault, outcome
    ):
        change = request_a_new_issuer(signed_in(staff["ed"]))  # its callbacks never run: no waiting mail
        if fault:
            sandbox.sandbox.faults.queue.append({"method": "PUT", "answer": fault})
        with django_capture_on_commit_callbacks(execute=True):
            decide(signed_in(staff["ada"]), change, decision)
        change.refresh_from_db()
        assert change.status_shown == outcome
        [received] = mail_server.received
        assert received.recipients == ["ed@partner.example"]
        assert received.subject == f"Your change request #{change.pk} for Globex: {outcome}"
        assert received.body == (
            f"ada decided your change request #{change.pk} to Globex ({TITLE}):\n\n"
            f"    {outcome}\n\n"
            "What came of it, and what can still be done:\n\n"
            f"{CHANGE_PAGE.format(change.pk)}\n"
        )

    def test_a_requester_without_an_address_is_not_mailed(
        self, mail_server, staff, sandbox, django_capture_on_commit_callbacks
    ):
        change = request_a_new_issuer(signed_in(staff["cy"]))
        with django_capture_on_commit_callbacks(execute=True):
            decide(signed_in(staff["ada"]), change, "reject")
        assert ChangeRequest.objects.get().status == "rejected"
        assert mail_server.received == []


class MailOffTests:
    def test_nothing_is_sent_when_mail_is_off(
        self, mail_server, staff, sandbox, settings, django_capture_on_commit_callbacks
    ):
        settings.PORTAL_MAIL_ON = False
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            change = request_a_new_issuer(signed_in(staff["ed"]))
            decide(signed_in(staff["ada"]), change, "approve")
        assert ChangeRequest.objects.get().status == "executed"
        assert [c for c in callbacks if c.__module__ == notify.__name__] == []  # nothing even waits to be sent
        assert mail_server.received == []


class MailFailingTests:
    @pytest.mark.parametrize("server", ["refusing", "down"])
    def test_the_steps_stand_and_the_failure_is_logged(
        self, mail_server, staff, sandbox, settings, caplog, django_capture_on_commit_callbacks, server
    ):
        if server == "refusing":
            mail_server.refusal = "554 5.7.1 Refused by policy"
            cause = "SMTPDataError: (554"
        else:
            settings.EMAIL_PORT = free_port()
            cause = "ConnectionRefusedError"
        with django_capture_on_commit_callbacks(execute=True):
            change = request_a_new_issuer(signed_in(staff["ed"]))
        assert ChangeRequest.objects.get().status == "pending"
        with django_capture_on_commit_callbacks(execute=True):
            decide(signed_in(staff["ada"]), change, "approve")
        assert ChangeRequest.objects.get().status == "executed"
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer == "https://globex.entra.example"
        failures = [r.getMessage() for r in caplog.records if r.name == "orgadmin.mail"]
        expected = [
            f"Mail not sent: change request {change.pk} waiting, to 4 address(es): {cause}",
            f"Mail not sent: change request {change.pk} decided, to 1 address(es): {cause}",
        ]
        assert len(failures) == len(expected)
        assert all(failure.startswith(start) for failure, start in zip(failures, expected, strict=True)), failures
        assert mail_server.received == []


class NoSecretTests:
    def test_no_message_carries_the_secret_or_the_client_id(
        self, mail_server, staff, sandbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            change = request_a_new_issuer(signed_in(staff["ed"]))
        with django_capture_on_commit_callbacks(execute=True):
            decide(signed_in(staff["ada"]), change, "approve")
        assert sandbox.sandbox.organizations[GLOBEX_ID].client_secret == NEW_SECRET  # it was sent, and mailed of
        assert len(mail_server.received) == 2
        for received in mail_server.received:
            assert NEW_SECRET not in received.text
            assert NEW_CLIENT_ID not in received.text
            assert "4MAILSCAN" not in received.text
