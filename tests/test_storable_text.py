"""Anything Polytomic returns can be stored: texts holding NUL (which PostgreSQL's text and jsonb
refuse) or lone surrogates (json.loads of "\\ud800" yields one; no database takes it) are stored by
every model field that holds Polytomic's words, and read back equal to what was stored, where the
portal compares them (a change request's `organization_state` against a fresh read decides void)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, GLOBEX_ID
from orgadmin.change_requests import requesting, sending
from orgadmin.models import STORED_MARK, ChangeRequest, Onboarding, OnboardingTask, read_text, stored_text
from orgadmin.organizations.forms import confirmation_phrase
from orgadmin.polytomic.client import client
from orgadmin.polytomic.fields import OrganizationInput
from tests.factories import make_user

pytestmark = pytest.mark.django_db

# Any character, with a good share of those that break storage, and of the mark that escapes them.
awkward = st.one_of(
    st.characters(),
    st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff", STORED_MARK, "\\", '"', "u", "0", "é"]),
)
texts = st.lists(awkward, max_size=30).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def user(username: str, role: str):
    from django.contrib.auth.models import User

    return User.objects.filter(username=username).first() or make_user(username, role=role)


class StoredTextTests:
    @given(value=texts)
    @example(value=STORED_MARK + "\\x00")  # what a stored NUL looks like, as a text of its own
    @example(value="\ud800\udc00")  # two halves of a surrogate pair, apart: JSON would join them
    def test_every_text_reads_back_as_it_was(self, value):
        assert read_text(stored_text(value)) == value
        stored = stored_text(value)
        assert "\x00" not in stored
        stored.encode()  # UTF-8: no lone surrogate left

    def test_ordinary_text_is_stored_as_it_is(self):
        assert stored_text("Acme Corporation — München") == "Acme Corporation — München"


class ModelFieldsTests:
    @EXAMPLES
    @given(text=texts, value=json_values)
    @example(text="Acme\x00", value={"name": "\ud800", "\x00": ["\udfff"]})
    @example(text="\udc00Acme", value="\x00")
    def test_every_field_holding_polytomic_text_stores_and_reads_it_back(self, text, value):
        requester = user("ed", "Editor")
        change = ChangeRequest.objects.create(
            organization_id=ACME_ID, organization_name=text, kind="update", body={"name": text, "x": value},
            organization_state={"name": text, "issuer": text}, summary={"changes": [value, text]}, reason=text,
            comment=text, result=text, requested_by=requester, expires_at=timezone.now(),
        )  # fmt: skip
        stored = ChangeRequest.objects.get(pk=change.pk)
        for name in ("organization_name", "body", "organization_state", "summary", "reason", "comment", "result"):
            assert getattr(stored, name) == getattr(change, name), name
        assert ChangeRequest.objects.filter(pk=change.pk, organization_name=text).exists()

        flow = Onboarding.objects.create(
            correlation_id=uuid4(), key="k" * 32, started_by=requester, organization_input={"name": text},
            issuer_check={"document": value, "issuer": text}, organization_name=text,
        )  # fmt: skip
        task = OnboardingTask.objects.create(
            onboarding=flow, step="connections", target=text, label=text, detail={"role_names": [text], "v": value},
            polytomic_id=text, error=text,
        )  # fmt: skip
        stored_flow, stored_task = Onboarding.objects.get(pk=flow.pk), OnboardingTask.objects.get(pk=task.pk)
        for name in ("organization_input", "issuer_check", "organization_name"):
            assert getattr(stored_flow, name) == getattr(flow, name), name
        for name in ("target", "label", "detail", "polytomic_id", "error"):
            assert getattr(stored_task, name) == getattr(task, name), name


# Names Polytomic may hold: anything, at least one character a person can type to confirm.
names = st.builds(lambda head, tail: head + tail, st.lists(awkward, max_size=12).map("".join), st.sampled_from("AbZ9"))


class FourEyesWithAwkwardNamesTests:
    @EXAMPLES
    @given(name=names)
    @example(name="Acme\x00Corp")
    @example(name="\ud800Acme")
    def test_a_delete_is_requested_approved_and_sent(self, sandbox, settings, name):
        """Through the pages, as the review did: the request is stored (no 500), and approving it
        sends the DELETE, because the state stored compares equal to a fresh read (not void)."""
        settings.PORTAL_FOUR_EYES = True
        sandbox.sandbox.reset()
        ChangeRequest.objects.all().delete()
        sandbox.sandbox.organizations[ACME_ID].name = name
        requester, approver = Client(), Client()
        requester.force_login(user("root", "Admin"))
        approver.force_login(user("ada", "Admin"))
        as_read = client().get_organization(UUID(ACME_ID), context=AuditContext(actor=None, actor_label="test"))
        asked = requester.post(
            reverse("orgadmin:organization-delete", args=[ACME_ID]),
            {"confirm_name": confirmation_phrase(as_read), "reason": "Customer left"},
        )
        assert asked.status_code == 302
        change = ChangeRequest.objects.get()
        assert (change.organization_name, change.organization_state) == (as_read.name, as_read.values())
        assert AuditEntry.objects.filter(action="change.request", change_request_id=change.pk).exists()
        assert approver.get(reverse("orgadmin:change-detail", args=[change.pk])).status_code == 200
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        change.refresh_from_db()
        assert change.status == "executed", change.result
        assert ACME_ID not in sandbox.sandbox.organizations

    @EXAMPLES
    @given(name=names)
    @example(name="Globex\x00")
    def test_an_update_is_requested_approved_and_sent(self, sandbox, name):
        sandbox.sandbox.reset()
        ChangeRequest.objects.all().delete()
        sandbox.sandbox.organizations[GLOBEX_ID].name = name
        asking = AuditContext(actor=user("ed", "Editor"))
        organization = client().get_organization(UUID(GLOBEX_ID), context=asking)
        data = OrganizationInput(name=organization.name, sso_domain="globex.example")  # removes OIDC
        change = requesting.request_update(
            context=asking, organization=organization, data=data, reason="Globex leaves OIDC",
            summary={"changes": [{"label": "Name", "before": organization.name, "after": data.name}]},
        )  # fmt: skip
        change = sending.approve(
            context=AuditContext(actor=user("ada", "Admin")), change_request_id=change.pk, comment=""
        )
        assert change.status == "executed", change.result
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer is None
