"""An organization's Connections page: which of the partner's connections are shared into it (one
list of shares a partner connection, no more), and sharing more, for Editors and Admins."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection as database
from django.urls import reverse

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, OWNER_ID
from devtools.sandbox.connections import StoredConnection
from devtools.support import hidden_fields
from tests.factories import make_user

pytestmark = pytest.mark.django_db

ACME_CONNECTIONS = reverse("orgadmin:connection-list", args=[ACME_ID])


def partner_connection(sandbox, name: str) -> str:
    return next(c.id for c in sandbox.sandbox.stored_connections.values() if c.name == name and c.parent_id is None)


def copies_in_acme(sandbox) -> list[str]:
    return sorted(
        sandbox.sandbox.stored_connections[c.parent_id].name
        for c in sandbox.sandbox.stored_connections.values()
        if c.parent_id and c.organization_id == ACME_ID
    )


def calls(sandbox, method: str, suffix: str) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == method and r["path"].endswith(suffix)]


@pytest.fixture
def as_editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


def share_form(client, *names_and_ids: str) -> dict:
    page = client.get(ACME_CONNECTIONS).content.decode()
    return {"connections": list(names_and_ids), **hidden_fields(page)}


class ListTests:
    def test_a_viewer_sees_each_connection_and_whether_it_is_shared_here(self, client, sandbox):
        crm = partner_connection(sandbox, "Sales CRM")
        copy = StoredConnection(str(uuid.uuid4()), ACME_ID, "Sales CRM", "Salesforce", parent_id=crm)
        sandbox.sandbox.stored_connections[copy.id] = copy
        client.force_login(make_user("vera", role="Viewer"))
        page = client.get(ACME_CONNECTIONS).content.decode()
        assert "<td>Sales CRM</td>" in page
        assert f'<span class="badge badge--ok">Shared</span> <code title="The copy\'s id">{copy.id}</code>' in page
        assert page.count("Not shared") == 2  # the warehouse and Marketing
        assert "Share more" not in page  # a Viewer sees, and no more
        # One list of shares a partner connection, and no more.
        assert len(calls(sandbox, "GET", "/shared")) == len([c for c in sandbox.sandbox.stored_connections.values()
                                                              if c.parent_id is None])  # fmt: skip
        assert len(calls(sandbox, "GET", "/api/connections")) == 1

    def test_the_organization_page_links_it(self, as_editor, sandbox):
        page = as_editor.get(reverse("orgadmin:organization-detail", args=[ACME_ID])).content.decode()
        assert f'href="{ACME_CONNECTIONS}">Connections</a>' in page

    def test_the_owner_organization_says_what_its_connections_are_without_reading_shares(self, as_editor, sandbox):
        page = as_editor.get(reverse("orgadmin:connection-list", args=[OWNER_ID])).content.decode()
        assert "This is your own (owner) organization" in page
        assert calls(sandbox, "GET", "/shared") == []

    def test_polytomic_refusing_the_list_is_said_plainly(self, as_editor, sandbox):
        sandbox.sandbox.faults.queue.append({"method": "GET", "path": "/api/connections", "fault": "status:403"})
        answer = as_editor.get(ACME_CONNECTIONS)
        assert answer.status_code == 200
        assert 'role="alert"' in answer.content.decode()
        # A refusal of the list, asked with HTTP Basic as the owner organization, names that cause
        # (tests/test_basic_auth_refusal.py).
        assert "Polytomic refused the portal's call as the organization" in answer.content.decode()

    def test_reads_a_fixed_number_of_queries(self, as_editor, sandbox, django_assert_max_num_queries):
        """Sign-in's four, the unresolved shares looked up, and each of the five reads' record (the
        store's refusal flag, then the append)."""
        as_editor.get(ACME_CONNECTIONS)  # the owner's id, read once a process
        with django_assert_max_num_queries(29 if database.vendor == "sqlite" else 34):
            as_editor.get(ACME_CONNECTIONS)


class ShareTests:
    def test_an_editor_shares_two_and_a_second_send_of_the_form_shares_nothing_more(self, as_editor, sandbox):
        chosen = [partner_connection(sandbox, "Sales CRM"), partner_connection(sandbox, "Marketing")]
        form = share_form(as_editor, *chosen)
        answer = as_editor.post(ACME_CONNECTIONS, form)
        assert answer.status_code == 302
        assert copies_in_acme(sandbox) == ["Marketing", "Sales CRM"]
        page = as_editor.get(answer["Location"]).content.decode()
        assert "Shared Sales CRM, Marketing." in page
        assert AuditEntry.objects.filter(action="connection.share", phase="outcome", outcome="ok").count() == 2
        again = as_editor.post(ACME_CONNECTIONS, form)  # now shared: no longer offered
        assert again.status_code == 422
        assert copies_in_acme(sandbox) == ["Marketing", "Sales CRM"]
        assert len(calls(sandbox, "POST", "/shared")) == 2

    def test_one_refused_is_said_by_name_and_the_others_are_shared(self, as_editor, sandbox):
        crm, marketing = partner_connection(sandbox, "Sales CRM"), partner_connection(sandbox, "Marketing")
        form = share_form(as_editor, crm, marketing)
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": f"/api/organizations/{OWNER_ID}/connections/"
                                             f"{crm}/shared", "fault": "status:403"})  # fmt: skip
        answer = as_editor.post(ACME_CONNECTIONS, form, follow=True)
        page = answer.content.decode()
        assert copies_in_acme(sandbox) == ["Marketing"]
        assert "Sales CRM was not shared: " in page
        assert "Shared Marketing." in page

    def test_a_share_whose_answer_was_lost_is_found_out_at_once(self, as_editor, sandbox):
        crm = partner_connection(sandbox, "Sales CRM")
        form = share_form(as_editor, crm)
        sandbox.sandbox.faults.queue.append(
            {"method": "POST", "path": f"/api/organizations/{OWNER_ID}/connections/{crm}/shared", "fault": "drop"}
        )
        page = as_editor.post(ACME_CONNECTIONS, form, follow=True).content.decode()
        assert "Shared Sales CRM." in page  # Polytomic had made it: read back at once
        [attempt] = AuditEntry.objects.filter(action="connection.share", phase="attempt")
        assert AuditEntry.objects.get(action="write.resolve", attempt_id=attempt.pk).outcome == "ok"

    def test_a_share_whose_answer_was_lost_and_not_seen_is_said_to_be_unknown(self, as_editor, sandbox):
        crm = partner_connection(sandbox, "Sales CRM")
        form = share_form(as_editor, crm)
        sandbox.sandbox.faults.queue.append(
            {"method": "POST", "path": f"/api/organizations/{OWNER_ID}/connections/{crm}/shared", "fault": "garbage"}
        )  # a 200 that is not JSON, nothing done
        page = as_editor.post(ACME_CONNECTIONS, form, follow=True).content.decode()
        assert "Polytomic may have shared Sales CRM: no answer came back." in page
        assert "was not shared" not in page
        assert copies_in_acme(sandbox) == []

    def test_a_viewer_may_not_share(self, client, sandbox):
        client.force_login(make_user("vera", role="Viewer"))
        answer = client.post(ACME_CONNECTIONS, {"connections": [partner_connection(sandbox, "Marketing")]})
        assert answer.status_code == 403
        assert calls(sandbox, "POST", "/shared") == []

    def test_choosing_nothing_says_so(self, as_editor, sandbox):
        answer = as_editor.post(ACME_CONNECTIONS, share_form(as_editor))
        assert answer.status_code == 422
        assert "Choose a connection to share." in answer.content.decode()
