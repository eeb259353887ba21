"""The audit protocol (audit/protocol.py): one way for every feature to write to the audit
log, and one failure protocol when the store refuses, which no page turns into a 500."""

from __future__ import annotations

import ast
import logging
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from audit.models import AuditEntry
from audit.protocol import USER_AGENT_MAX_CHARS, AuditContext, AuditUnavailable, record
from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.support import hidden_fields
from orgadmin.models import ChangeRequest, OnboardingTask
from orgadmin.polytomic.errors import PolytomicError
from tests.factories import make_user
from tests.support import audit_refuses_inserts
from tests.test_change_requests import approve, request_a_new_issuer

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("audit", "orgadmin", "staff", "portal")
# Where an `AuditEntry(...)` may be built: the protocol; the model itself; migrations, which work on
# historical models; and retention, whose run records itself inside the deletion's own
# transaction (`audit.retention.prune`), below the protocol that appends through it.
MAY_BUILD = {"audit/protocol.py", "audit/models.py", "audit/retention.py"}


def constructions(source: str) -> list[int]:
    """The lines of `source` that call `AuditEntry(...)`, by its name or as an attribute
    (`models.AuditEntry(...)`)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "AuditEntry")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "AuditEntry")
        )
    ]


class OneWayToWriteTests:
    def test_no_product_module_builds_an_entry_but_the_protocol(self):
        found = []
        for package in PRODUCT:
            for path in sorted((ROOT / package).rglob("*.py")):
                name = path.relative_to(ROOT).as_posix()
                if name in MAY_BUILD or "/migrations/" in name:
                    continue
                found += [f"{name}:{line}" for line in constructions(path.read_text(encoding="utf-8"))]
        assert found == [], "Write audit entries with audit.protocol.record(...), not AuditEntry(...)"

    def test_the_scan_finds_an_entry_built_by_any_name(self):
        source = "from orgadmin import models\nentry = AuditEntry(action='x')\nother = models.AuditEntry()\n"
        assert constructions(source) == [2, 3]
        assert constructions("AuditEntry.objects.filter(action='x')\nAuditEntry.Action.GET\n") == []

    def test_the_log_refusing_is_not_an_error_of_polytomics(self):
        """Code that catches Polytomic's errors does not catch the log's by accident: each place
        that shows either names both."""
        assert not issubclass(AuditUnavailable, PolytomicError)


@pytest.mark.django_db
class RecordTests:
    def test_an_entry_carries_who_and_from_where(self):
        actor = make_user("rec", role="Admin")
        flow = uuid.uuid4()
        context = AuditContext(
            actor=actor, request_id="req-1", client_ip="192.0.2.7", user_agent="Firefox", actor_signin="oidc",
            change_request_id=5, correlation_id=flow,
        )  # fmt: skip
        entry = record(context, action=AuditEntry.Action.CHECKPOINT, nothing_sent=True, request_body={"a": 1})
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert (stored.actor_id, stored.actor_username, stored.actor_signin) == (actor.pk, "rec", "oidc")
        assert (stored.request_id, stored.client_ip, stored.user_agent) == ("req-1", "192.0.2.7", "Firefox")
        assert (stored.change_request_id, stored.correlation_id) == (5, flow)
        assert (stored.action, stored.request_body, stored.outcome) == ("audit.checkpoint", {"a": 1}, "ok")
        assert stored.entry_hash  # appended to the chain

    @pytest.mark.parametrize("nothing_sent", [True, False])
    def test_a_refusal_is_logged_told_to_security_and_raised(self, caplog, nothing_sent):
        context = AuditContext(actor=None, actor_label="system:test")
        with audit_refuses_inserts(), caplog.at_level(logging.ERROR), pytest.raises(AuditUnavailable) as raised:
            record(context, action=AuditEntry.Action.CHECKPOINT, nothing_sent=nothing_sent, what="the test's entry")
        assert raised.value.nothing_sent is nothing_sent
        assert ("nothing was sent" in raised.value.message) is nothing_sent
        [security] = [r for r in caplog.records if r.name == "orgadmin.security"]
        assert "could not record the test's entry by system:test" in security.getMessage()
        assert any(r.name == "audit.protocol" and r.exc_info for r in caplog.records)
        assert not AuditEntry.objects.exists()


@pytest.mark.django_db
class FromRequestTests:
    def test_the_context_of_a_request(self):
        request = RequestFactory().get("/", HTTP_USER_AGENT="x" * 600, REMOTE_ADDR="192.0.2.9")
        request.user = make_user("ctx", role="Editor")
        request.request_id = "abc123"
        request.session = {}
        flow = uuid.uuid4()
        context = AuditContext.from_request(request, correlation_id=flow)
        assert (context.actor, context.actor_username, context.request_id) == (request.user, "ctx", "abc123")
        assert context.client_ip == "192.0.2.9"
        assert context.user_agent == "x" * USER_AGENT_MAX_CHARS
        assert context.correlation_id == flow

    def test_an_anonymous_request_has_no_actor(self):
        from django.contrib.auth.models import AnonymousUser

        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        request.session = {}
        assert AuditContext.from_request(request).actor is None


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
class NoPageFailsWhenTheLogRefusesTests:
    """Each page that reads Polytomic says plainly that the log refused, as it says Polytomic failed."""

    @pytest.mark.parametrize(
        "url",
        [
            reverse("orgadmin:organization-list"),
            reverse("orgadmin:organization-detail", args=[GLOBEX_ID]),
            reverse("orgadmin:organization-edit", args=[ACME_ID]),
            reverse("orgadmin:organization-delete", args=[ACME_ID]),
            reverse("orgadmin:user-list", args=[ACME_ID]),
            reverse("orgadmin:user-invite", args=[ACME_ID]),
        ],
    )
    def test_a_page_whose_read_cannot_be_recorded(self, as_admin, sandbox, url):
        with audit_refuses_inserts():
            response = as_admin.get(url)
        assert response.status_code == 200
        assert "the audit log is unavailable" in response.content.decode().lower()

    def test_a_change_request_whose_fresh_read_cannot_be_recorded_fails_and_sends_nothing(
        self, client, sandbox, settings
    ):
        settings.PORTAL_FOUR_EYES = True
        client.force_login(make_user("ed", role="Editor"))
        change = request_a_new_issuer(client)
        approver = Client()
        approver.force_login(make_user("ada", role="Admin"))
        with audit_refuses_inserts(action=AuditEntry.Action.GET):
            detail = approver.get(reverse("orgadmin:change-detail", args=[change.pk]))
            response = approve(approver, change)
        assert detail.status_code == 200
        assert "The audit log is unavailable" in detail.content.decode()
        assert response.status_code == 302
        change.refresh_from_db()
        assert change.status == ChangeRequest.Status.FAILED
        assert "could not be read first, so nothing was sent" in change.result
        assert not [r for r in sandbox.sandbox.received if r["method"] == "PUT"]

    def test_an_onboarding_step_whose_attempt_cannot_be_recorded_failed_and_sent_nothing(self, client, sandbox):
        client.force_login(make_user("ed", role="Editor"))
        new = reverse("orgadmin:onboarding-new")
        form = {**hidden_fields(client.get(new).content.decode()), "name": "Hooli"}
        with audit_refuses_inserts(phase=AuditEntry.Phase.ATTEMPT):
            response = client.post(new, form)
        assert response.status_code == 200
        assert "nothing was sent to Polytomic" in response.content.decode()
        [task] = OnboardingTask.objects.all()
        assert task.state == OnboardingTask.State.FAILED  # not "unknown": nothing went out
        assert not [r for r in sandbox.sandbox.received if r["method"] == "POST"]

    def test_the_deploy_check_says_the_log_refused(self, sandbox):
        with audit_refuses_inserts(), pytest.raises(CommandError, match="audit log is unavailable"):
            call_command("check_polytomic")
