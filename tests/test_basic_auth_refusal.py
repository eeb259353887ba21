"""The roles and connections lists are asked with HTTP Basic as the organization (its id and the
partner key), as Polytomic's Terraform provider asks them; Polytomic's API reference does not
promise it works. When Polytomic refuses such a call, staff are told that cause and what to do,
wherever roles and connections are listed, instead of a generic failure."""

from __future__ import annotations

import html
import uuid

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, OWNER_ID
from devtools.support import hidden_fields
from orgadmin.models import Onboarding
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicBasicAuthRefused, PolytomicUnavailable
from tests.factories import make_user

pytestmark = pytest.mark.django_db

CAUSE = "HTTP Basic auth (the organization's id and the partner API key)"
WHAT_TO_DO = "python manage.py check_polytomic"
AUDIT = AuditContext(actor=None, actor_label="basic-test")


@pytest.fixture
def as_editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


class ClientTests:
    @pytest.mark.parametrize("status", [401, 403])
    def test_a_refused_basic_call_is_its_own_failure_naming_the_cause(self, sandbox, status):
        sandbox.sandbox.faults.refuse_basic = status
        for call in (
            lambda: client().list_roles(uuid.UUID(ACME_ID), context=AUDIT),
            lambda: client().list_connections(uuid.UUID(OWNER_ID), context=AUDIT),
        ):
            with pytest.raises(PolytomicBasicAuthRefused) as caught:
                call()
            assert caught.value.status == status
            assert "HTTP Basic auth" in caught.value.message
            assert WHAT_TO_DO in caught.value.message
            assert "Polytomic said: Organization-scoped access" in caught.value.message
        assert set(AuditEntry.objects.values_list("action", "outcome")) == {
            ("role.list", "rejected"), ("connection.list", "rejected")
        }  # fmt: skip

    def test_a_bearer_refusal_and_other_failures_of_a_basic_call_stay_what_they_were(self, sandbox):
        sandbox.sandbox.faults.refuse_basic = 403
        assert client().list_users(uuid.UUID(ACME_ID), context=AUDIT)  # Bearer: untouched
        sandbox.sandbox.faults.refuse_basic = 0
        sandbox.sandbox.faults.queue.append({"path": "/api/permissions/roles", "fault": "status:500"})
        sandbox.sandbox.faults.queue.extend([{"path": "/api/permissions/roles", "fault": "status:503"}] * 3)
        with pytest.raises(PolytomicUnavailable) as caught:
            client().list_roles(uuid.UUID(ACME_ID), context=AUDIT)
        assert not caught.value.basic_auth_refused


class PageTests:
    @pytest.mark.parametrize("page_name", ["orgadmin:user-list", "orgadmin:connection-list"])
    def test_the_people_and_connections_pages_name_the_cause_and_what_to_do(self, as_editor, sandbox, page_name):
        sandbox.sandbox.faults.refuse_basic = 403
        page = html.unescape(as_editor.get(reverse(page_name, args=[ACME_ID])).content.decode())
        assert "Polytomic refused the portal's call as the organization" in page
        assert CAUSE in page
        assert WHAT_TO_DO in page
        assert "Polytomic did not answer as expected" not in page

    def test_the_onboarding_steps_name_the_cause_and_what_to_do(self, as_editor, sandbox):
        sandbox.sandbox.faults.refuse_basic = 401
        new = reverse("orgadmin:onboarding-new")
        page = as_editor.get(new).content.decode()
        as_editor.post(new, {**hidden_fields(page), "name": "Hooli"})
        flow = Onboarding.objects.get()
        detail = reverse("orgadmin:onboarding-detail", args=[flow.pk])
        connections = html.unescape(as_editor.get(detail).content.decode())
        assert "The partner's connections could not be listed." in connections
        assert CAUSE in connections
        assert WHAT_TO_DO in connections
        as_editor.post(reverse("orgadmin:onboarding-connections", args=[flow.pk]))  # shares nothing: lists nothing
        flow.refresh_from_db()
        assert flow.connections_chosen is False
        sandbox.sandbox.faults.refuse_basic = 0
        as_editor.post(reverse("orgadmin:onboarding-connections", args=[flow.pk]), {})
        sandbox.sandbox.faults.refuse_basic = 403
        administrators = html.unescape(as_editor.get(detail).content.decode())
        assert "The organization's roles could not be listed." in administrators
        assert CAUSE in administrators
        assert WHAT_TO_DO in administrators
