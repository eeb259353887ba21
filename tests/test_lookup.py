"""Find anything by its Polytomic id (orgadmin/lookup/): the sandbox's partner entity lookup, the
client's reading of it, the page every role reaches from the header, each lookup an audited read."""

from __future__ import annotations

import uuid

import pytest
import requests
import responses
from django.db import connection
from django.urls import reverse

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, FOREIGN_ID, GLOBEX_ID, OTHER_PARTNER_KEY, OWNER_ID, PARTNER_KEY
from orgadmin.polytomic.client import client
from orgadmin.polytomic.entities import Entity
from orgadmin.polytomic.errors import PolytomicNotFound, PolytomicUnavailable
from tests.factories import make_user
from tests.test_authorization_matrix import ANALYST_ID

pytestmark = pytest.mark.django_db

FIND = reverse("orgadmin:find")
UNKNOWN_ID = "3f2a9c1e-5b7d-4e0a-9c3b-1d2e3f4a5b6c"


def entity_path(entity_id: str) -> str:
    return f"/api/organizations/entities/{entity_id}"


def lookup(sandbox, entity_id: str, *, key: str = PARTNER_KEY) -> requests.Response:
    return requests.get(sandbox.url + entity_path(entity_id), headers={"Authorization": f"Bearer {key}"}, timeout=10)


def sales_crm(sandbox) -> str:
    return next(c.id for c in sandbox.sandbox.stored_connections.values() if c.name == "Sales CRM")


@pytest.fixture
def as_viewer(client):
    client.force_login(make_user("vera", role="Viewer"))
    return client


class SandboxTests:
    def test_an_organization_a_user_and_a_connection_resolve_to_their_owner(self, sandbox):
        assert lookup(sandbox, GLOBEX_ID).json() == {"data": {
            "id": GLOBEX_ID, "type": "organization", "canonical_path": f"/api/organizations/{GLOBEX_ID}",
            "organization_id": GLOBEX_ID}}  # fmt: skip
        user = lookup(sandbox, ANALYST_ID).json()["data"]
        assert (user["type"], user["organization_id"]) == ("user", ACME_ID)
        assert user["relationships"] == {"organization": {"id": ACME_ID, "path": f"/api/organizations/{ACME_ID}"}}
        connection = lookup(sandbox, sales_crm(sandbox)).json()["data"]
        assert (connection["type"], connection["organization_id"]) == ("connection", OWNER_ID)

    def test_an_unknown_id_and_another_partners_are_404_and_a_non_uuid_400(self, sandbox):
        assert lookup(sandbox, UNKNOWN_ID).status_code == 404
        assert lookup(sandbox, FOREIGN_ID).status_code == 404  # not 403: the document says unknown is 404
        assert lookup(sandbox, FOREIGN_ID, key=OTHER_PARTNER_KEY).status_code == 200
        assert lookup(sandbox, "not-a-uuid").status_code == 400
        assert requests.post(sandbox.url + entity_path(GLOBEX_ID), timeout=10,
                             headers={"Authorization": f"Bearer {PARTNER_KEY}"}).status_code == 405  # fmt: skip


class ClientTests:
    def test_reads_the_entity_and_files_the_read_under_its_organization(self, sandbox):
        polytomic = client()
        found = polytomic.get_entity(uuid.UUID(ANALYST_ID), context=AuditContext(actor=None, actor_label="t"))
        assert found == Entity(
            id=ANALYST_ID, type="user", organization_id=ACME_ID,
            canonical_path=f"/api/organizations/{ACME_ID}/users/{ANALYST_ID}",
            relationships=found.relationships,
        )  # fmt: skip
        assert [(r.name, r.id) for r in found.relationships] == [("organization", ACME_ID)]
        entry = AuditEntry.objects.get(action="entity.get")
        assert (entry.outcome, entry.organization_id, entry.path) == ("ok", ACME_ID, entity_path(ANALYST_ID))

    def test_an_unknown_id_is_not_found(self, sandbox):
        polytomic = client()
        with pytest.raises(PolytomicNotFound):
            polytomic.get_entity(uuid.UUID(UNKNOWN_ID), context=AuditContext(actor=None, actor_label="t"))

    @pytest.mark.parametrize("data", [
        [], {"id": 7}, {"id": "not-a-uuid", "type": "user"}, {"id": UNKNOWN_ID, "type": 3},
        {"id": UNKNOWN_ID, "relationships": ["sync"]}, {"id": UNKNOWN_ID, "relationships": {"sync": {"path": "/x"}}},
        {"id": UNKNOWN_ID, "organization_id": "acme"},
    ])  # fmt: skip
    def test_an_answer_not_shaped_as_an_entity_is_unreadable(self, data):
        with pytest.raises(ValueError, match=r"entity|relationship|string|UUID|uuid|hexadecimal"):
            Entity.from_api(data)


class PageTests:
    def test_a_user_id_names_the_user_and_links_its_organization_for_a_viewer(self, as_viewer, sandbox):
        answer = as_viewer.get(FIND, {"id": f"  {ANALYST_ID.upper()} "})
        page = answer.content.decode()
        assert answer.status_code == 200
        assert f'User <code title="{ANALYST_ID}">' in page
        assert f'in <a href="/organizations/{ACME_ID}/">Acme Corporation</a>' in page
        assert f"/api/organizations/{ACME_ID}/users/{ANALYST_ID}" in page
        assert "Its users" in page  # a Viewer may see an organization's users
        reads = AuditEntry.objects.filter(actor_username="vera").values_list("action", "organization_id")
        assert sorted(reads) == [("entity.get", ACME_ID), ("organization.get", ACME_ID)]

    def test_a_connection_and_an_organization_resolve_too(self, as_viewer, sandbox):
        page = as_viewer.get(FIND, {"id": sales_crm(sandbox)}).content.decode()
        assert "Connection <code" in page
        assert f'href="/organizations/{OWNER_ID}/"' in page
        page = as_viewer.get(FIND, {"id": GLOBEX_ID}).content.decode()
        assert "Organization <code" in page
        assert "Its users" not in page

    def test_an_unknown_id_says_so_plainly(self, as_viewer, sandbox):
        answer = as_viewer.get(FIND, {"id": UNKNOWN_ID})
        assert answer.status_code == 200
        assert "Nothing has this id" in answer.content.decode()
        assert AuditEntry.objects.get(action="entity.get").outcome == "rejected"

    @pytest.mark.parametrize("typed", ["3f2a", "sync 3f2a9c1e", "'><script>", "x" * 500])
    def test_what_is_no_id_is_refused_without_a_call(self, as_viewer, sandbox, typed):
        answer = as_viewer.get(FIND, {"id": typed})
        assert answer.status_code == 422
        assert "That is not a Polytomic id" in answer.content.decode()
        assert "<script>" not in answer.content.decode()
        assert sandbox.sandbox.received == []

    def test_the_page_without_an_id_asks_for_one_without_a_call(self, as_viewer, sandbox):
        page = as_viewer.get(FIND).content.decode()
        assert "Find an id" in page
        assert sandbox.sandbox.received == []

    def test_polytomic_failing_is_said_with_the_id_kept(self, as_viewer, sandbox):
        sandbox.sandbox.faults.queue.append({"method": "GET", "path": entity_path(GLOBEX_ID), "fault": "status:403"})
        answer = as_viewer.get(FIND, {"id": GLOBEX_ID})
        page = answer.content.decode()
        assert answer.status_code == 200
        assert "Polytomic did not answer as expected" in page
        assert f'value="{GLOBEX_ID}"' in page

    def test_the_owner_unreadable_still_shows_what_the_id_is(self, as_viewer, sandbox):
        sandbox.sandbox.faults.queue.append({"method": "GET", "path": f"/api/organizations/{ACME_ID}",
                                             "fault": "status:403"})  # fmt: skip
        page = as_viewer.get(FIND, {"id": ANALYST_ID}).content.decode()
        assert "User <code" in page
        assert f"<code>{ACME_ID}</code>" in page

    def test_a_sync_run_names_its_sync_to_look_up_in_turn(self, as_viewer, settings):
        """What the sandbox does not hold, as the published document shapes it: a run, its sync."""
        api, run, sync = "https://polytomic.test", str(uuid.uuid4()), str(uuid.uuid4())
        settings.POLYTOMIC_API_URL = api
        with responses.RequestsMock() as mock:
            mock.get(f"{api}{entity_path(run)}", json={"data": {
                "id": run, "type": "sync_execution", "organization_id": GLOBEX_ID,
                "canonical_path": f"/api/syncs/{sync}/executions/{run}",
                "relationships": {"sync": {"id": sync, "path": f"/api/syncs/{sync}"}}}})  # fmt: skip
            mock.get(f"{api}/api/organizations/{GLOBEX_ID}", json={"data": {"id": GLOBEX_ID, "name": "Globex"}})
            page = as_viewer.get(FIND, {"id": run}).content.decode()
        assert f'Sync run <code title="{run}">' in page
        assert f'in <a href="/organizations/{GLOBEX_ID}/">Globex</a>' in page
        assert f'<dt>Sync</dt><dd><a href="{FIND}?id={sync}">' in page

    @pytest.mark.parametrize("role", ["Viewer", "Editor", "Admin"])
    def test_every_role_has_the_box_in_the_header(self, client, sandbox, role):
        client.force_login(make_user("someone", role=role))
        page = client.get(reverse("orgadmin:organization-list")).content.decode()
        assert f'<form class="header-find" role="search" aria-label="Find an id" method="get" action="{FIND}">' in page

    def test_reads_a_fixed_number_of_queries(self, as_viewer, sandbox, django_assert_max_num_queries):
        """Sign-in's (session, user, permissions, the session's last use), and each of the two reads'
        record (the audit store's refusal flag, then the append: 5 on SQLite, 6 on PostgreSQL)."""
        with django_assert_max_num_queries(16 if connection.vendor == "sqlite" else 18):
            as_viewer.get(FIND, {"id": ANALYST_ID})


def test_polytomic_unavailable_is_raised_for_a_5xx(sandbox):
    sandbox.sandbox.faults.queue.extend([{"method": "GET", "path": entity_path(GLOBEX_ID), "fault": "status:500"}] * 3)
    polytomic = client()
    with pytest.raises(PolytomicUnavailable):
        polytomic.get_entity(uuid.UUID(GLOBEX_ID), context=AuditContext(actor=None, actor_label="t"))
