"""Changes made to an organization outside this portal (here: a script with the partner key,
straight to the sandbox's API) are noticed and recorded with before and after; the portal's own
writes are not (orgadmin/organizations/external.py, manage.py notice_external_changes)."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, GLOBEX_ID, INITECH_ID, PARTNER_KEY
from devtools.support import hidden_fields
from orgadmin.models import SeenOrganization
from orgadmin.organizations import external
from orgadmin.polytomic.client import client
from tests.factories import make_user

pytestmark = pytest.mark.django_db

ACME = {"name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}


def outside(sandbox, method: str, path: str, body: dict | None = None) -> requests.Response:
    """A script with the partner key, not the portal."""
    answer = requests.request(method, f"{sandbox.url}{path}", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {PARTNER_KEY}"})  # fmt: skip
    assert answer.status_code < 300, answer.text
    return answer


def notice() -> str:
    out = io.StringIO()
    call_command("notice_external_changes", stdout=out)
    return out.getvalue()


def changes() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="organization.external_change").order_by("id"))


@pytest.fixture
def as_admin(client):
    client.force_login(make_user("ada", role="Admin"))
    return client


@pytest.fixture
def remembered(sandbox) -> str:
    return notice()


class CommandTests:
    def test_the_first_look_remembers_every_organization_and_records_nothing(self, sandbox):
        printed = notice()
        assert f"First look: {len(sandbox.sandbox.organizations) - 1} organizations remembered" in printed
        assert changes() == []
        assert SeenOrganization.objects.get(organization_id=ACME_ID).values["name"] == "Acme Corporation"

    def test_a_rename_outside_is_one_entry_with_before_and_after(self, sandbox, remembered):
        outside(sandbox, "PUT", f"/api/organizations/{ACME_ID}", ACME | {"name": "Acme Renamed Elsewhere"})
        printed = notice()
        [entry] = changes()
        assert entry.organization_id == ACME_ID
        assert entry.request_body["kind"] == "changed"
        assert entry.request_body["fields"] == ["name"]
        assert entry.request_body["before"]["name"] == "Acme Corporation"
        assert entry.request_body["after"]["name"] == "Acme Renamed Elsewhere"
        assert "Acme Renamed Elsewhere  changed: name" in printed
        assert "1 recorded" in printed
        notice()
        assert len(changes()) == 1  # noticed once

    def test_the_portals_own_edit_is_no_external_change(self, as_admin, sandbox, remembered):
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        page = as_admin.get(url).content.decode()
        assert as_admin.post(url, ACME | {"name": "Acme Renamed Here", **hidden_fields(page)}).status_code == 302
        assert "0 recorded" in notice()
        assert changes() == []
        assert SeenOrganization.objects.get(organization_id=ACME_ID).values["name"] == "Acme Renamed Here"

    def test_an_organization_made_or_removed_outside_is_recorded_and_the_portals_are_not(
        self, as_admin, sandbox, remembered
    ):
        made = outside(sandbox, "POST", "/api/organizations", {"name": "Made Elsewhere"}).json()["data"]["id"]
        outside(sandbox, "DELETE", f"/api/organizations/{INITECH_ID}")
        as_admin.post(reverse("orgadmin:organization-create"), {"name": "Made Here", "form_key": "h" * 32})
        url = reverse("orgadmin:organization-delete", args=[GLOBEX_ID])
        as_admin.post(url, {"confirm_name": "Globex", **hidden_fields(as_admin.get(url).content.decode())})
        assert GLOBEX_ID not in sandbox.sandbox.organizations
        notice()
        kinds = {(entry.organization_id, entry.request_body["kind"]) for entry in changes()}
        assert kinds == {(made, "appeared"), (INITECH_ID, "disappeared")}

    def test_polytomic_failing_is_said_and_nothing_is_compared(self, sandbox, remembered):
        sandbox.sandbox.faults.queue.extend(
            [{"method": "GET", "path": "/api/organizations", "fault": "status:503"}] * 3
        )
        with pytest.raises(Exception, match="Nothing compared"):
            notice()

    def test_an_empty_list_is_no_disappearance(self, sandbox, remembered):
        """`"data": null` reads as no organization: not even the partner's own, so it is not trusted."""
        sandbox.sandbox.faults.queue.append(
            {"method": "GET", "path": "/api/organizations", "answer": {"status": 200, "body": {"data": None}}}
        )
        with pytest.raises(CommandError, match="Polytomic listed no organization, not even your own"):
            notice()
        assert changes() == []
        assert SeenOrganization.objects.filter(organization_id=ACME_ID).exists()


class PageTests:
    def test_the_organization_page_notices_and_says_when_and_what(self, as_admin, sandbox, remembered):
        outside(sandbox, "PUT", f"/api/organizations/{ACME_ID}", ACME | {"sso_domain": "acme-elsewhere.example"})
        page = as_admin.get(reverse("orgadmin:organization-detail", args=[ACME_ID])).content.decode()
        [entry] = changes()
        assert "Changed outside this portal on " in page
        assert "UTC: SSO domain." in page
        assert f'href="/audit/{entry.pk}/">What changed</a>' in page
        assert entry.actor_username == "ada"  # noticed by the page she opened

    def test_an_editor_is_not_shown_a_link_to_the_audit_log(self, client, sandbox, remembered):
        outside(sandbox, "PUT", f"/api/organizations/{ACME_ID}", ACME | {"sso_org_id": "org_02ELSEWHERE"})
        client.force_login(make_user("ed", role="Editor"))
        page = client.get(reverse("orgadmin:organization-detail", args=[ACME_ID])).content.decode()
        assert "UTC: SSO organization id." in page
        assert "What changed" not in page

    def test_the_list_page_notices_those_it_shows(self, as_admin, sandbox, remembered):
        outside(sandbox, "PUT", f"/api/organizations/{ACME_ID}", ACME | {"name": "Acme Listed Elsewhere"})
        as_admin.get(reverse("orgadmin:organization-list"))
        assert [entry.request_body["after"]["name"] for entry in changes()] == ["Acme Listed Elsewhere"]


def test_two_workers_noticing_one_change_record_it_once(sandbox, remembered):
    """Both read the memory before either moved it: only the one whose statement moved it records."""
    outside(sandbox, "PUT", f"/api/organizations/{ACME_ID}", ACME | {"name": "Acme Twice"})
    stale = SeenOrganization.objects.get(organization_id=ACME_ID)
    context = AuditContext(actor=None, actor_label="portal")
    acme = client().get_organization(ACME_ID, context=context)
    first = external._changed(stale, acme, context=context)
    second = external._changed(stale, acme, context=context)
    assert (first is not None, second) == (True, None)
    assert len(changes()) == 1
