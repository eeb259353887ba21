"""A change waiting for a second person shows where people work: a banner on its organization, a
badge in the list, a warning on the forms whose save would void it; a second request of the same
kind is refused; the queue names each change; a request approving would void says why instead
of offering to approve; its requester can withdraw it; and pages offer only the links their
reader may follow."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID, INITECH_ID, StoredOrganization
from devtools.support import hidden_fields
from orgadmin.models import ChangeRequest
from tests.factories import make_user

pytestmark = pytest.mark.django_db

LIST = reverse("orgadmin:organization-list")
GLOBEX_OIDC = {
    "name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.entra.example",
    "client_id": "entra-client", "client_secret": "rotated-secret-4PENDING",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True


def signed_in(username: str, role: str) -> Client:
    browser = Client()
    browser.force_login(make_user(username, role=role))
    return browser


@pytest.fixture
def editor() -> Client:
    return signed_in("ed", "Editor")


@pytest.fixture
def approver() -> Client:
    return signed_in("ada", "Admin")


def edit_url(organization_id: str) -> str:
    return reverse("orgadmin:organization-edit", args=[organization_id])


def change_url(change: ChangeRequest) -> str:
    return reverse("orgadmin:change-detail", args=[change.pk])


def ask(client: Client, typed: dict[str, str], *, organization_id: str = GLOBEX_ID):
    """Posts an edit, confirms its summary and gives a reason: the answer to that last post."""
    url = edit_url(organization_id)
    summary = client.post(url, typed | hidden_fields(client.get(url).content.decode()))
    assert "This change waits for a second person" in summary.content.decode()
    return client.post(url, typed | hidden_fields(summary.content.decode()) | {"reason": "Ticket 4711"})


def request_new_issuer(client: Client) -> ChangeRequest:
    assert ask(client, GLOBEX_OIDC).status_code == 302
    return ChangeRequest.objects.latest("pk")


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


class BannerTests:
    def test_the_organization_page_shows_its_waiting_request_with_a_link(self, editor, sandbox):
        assert "waits for a second person" not in page(
            editor, reverse("orgadmin:organization-detail", args=[GLOBEX_ID])
        )
        change = request_new_issuer(editor)
        shown = page(editor, reverse("orgadmin:organization-detail", args=[GLOBEX_ID]))
        assert "A change request waits for a second person" in shown
        assert f'<a href="{change_url(change)}">#{change.pk} {change.title}</a>' in shown
        assert "by you" in shown

    def test_a_viewer_sees_the_banner_without_a_link_they_may_not_follow(self, editor, sandbox):
        change = request_new_issuer(editor)
        viewer = signed_in("vi", "Viewer")
        assert viewer.get(change_url(change)).status_code == 403
        shown = page(viewer, reverse("orgadmin:organization-detail", args=[GLOBEX_ID]))
        assert f"#{change.pk} {change.title}" in shown
        assert change_url(change) not in shown


class ListBadgeTests:
    def test_the_list_marks_an_organization_with_a_waiting_request(self, editor, sandbox):
        change = request_new_issuer(editor)
        shown = page(editor, LIST)
        assert shown.count("Waiting: ") == 1
        assert f'<a class="badge badge--warning" href="{change_url(change)}"' in shown
        viewer_list = page(signed_in("vi", "Viewer"), LIST)
        assert f"Waiting: {change.title}" in viewer_list
        assert change_url(change) not in viewer_list

    def test_one_query_for_the_badges_however_many_requests_wait(self, editor, sandbox):
        page(editor, LIST)  # warms the session and the owner id
        with CaptureQueriesContext(connection) as none_waiting:
            page(editor, LIST)
        user = make_user("requester", role="Editor")
        for n in range(20):
            stored = StoredOrganization(id=f"00000000-0000-4000-8000-{n:012d}", partner="partner", name=f"Org {n}")
            sandbox.sandbox.organizations[stored.id] = stored
            ChangeRequest.objects.create(
                organization_id=stored.id, organization_name=stored.name, kind="delete", organization_state={},
                reason="r", requested_by=user, expires_at=timezone.now() + timedelta(hours=1),
            )  # fmt: skip
        with CaptureQueriesContext(connection) as many_waiting:
            shown = page(editor, LIST)
        assert shown.count("Waiting: Delete") == 20
        assert len(many_waiting.captured_queries) == len(none_waiting.captured_queries)
        reads = [q["sql"] for q in many_waiting.captured_queries if "orgadmin_changerequest" in q["sql"]]
        assert len(reads) == 1


class DuplicateTests:
    def test_a_second_request_of_the_same_kind_is_refused_with_a_link_to_the_first(self, editor, sandbox):
        first = request_new_issuer(editor)
        refused = ask(signed_in("eve", "Editor"), GLOBEX_OIDC | {"issuer": "https://globex.okta.example"})
        assert refused.status_code == 200
        shown = refused.content.decode()
        assert f"Nothing was requested: change request #{first.pk}" in shown
        assert f'href="{change_url(first)}"' in shown
        assert ChangeRequest.objects.count() == 1

    def test_a_second_delete_is_refused_and_a_delete_beside_an_update_is_not(self, editor, sandbox):
        admin = signed_in("root", "Admin")
        url = reverse("orgadmin:organization-delete", args=[GLOBEX_ID])
        request_new_issuer(editor)
        assert admin.post(url, {"confirm_name": "Globex", "reason": "Customer left"}).status_code == 302
        delete = ChangeRequest.objects.get(kind="delete")
        refused = signed_in("bea", "Admin").post(url, {"confirm_name": "Globex", "reason": "Again"})
        assert f"Nothing was requested: change request #{delete.pk} (Delete) waits already" in refused.content.decode()
        assert f'href="{change_url(delete)}"' in refused.content.decode()
        assert ChangeRequest.objects.filter(kind="delete").count() == 1

    def test_a_request_decided_no_longer_blocks_a_new_one(self, editor, approver, sandbox):
        first = request_new_issuer(editor)
        approver.post(reverse("orgadmin:change-decide", args=[first.pk]), {"decision": "reject", "comment": "No"})
        assert request_new_issuer(editor).pk != first.pk


class EditWarningTests:
    def test_editing_an_organization_with_a_waiting_request_warns_that_saving_voids_it(self, editor, sandbox):
        assert "voids" not in page(editor, edit_url(GLOBEX_ID))
        change = request_new_issuer(editor)
        shown = page(signed_in("eve", "Editor"), edit_url(GLOBEX_ID))
        assert "Saving a change here voids it" in shown
        assert f'href="{change_url(change)}"' in shown
        assert "Deleting it voids it" in page(
            signed_in("root", "Admin"), reverse("orgadmin:organization-delete", args=[GLOBEX_ID])
        )


class QueueNameTests:
    def test_the_queue_names_each_change(self, editor, approver, sandbox):
        request_new_issuer(editor)
        sandbox.sandbox.organizations[INITECH_ID].issuer = "https://initech.okta.example"
        assert ask(editor, {"name": "Initech", "remove_oidc": "on"}, organization_id=INITECH_ID).status_code == 302
        admin = signed_in("root", "Admin")
        admin.post(
            reverse("orgadmin:organization-delete", args=[ACME_ID]),
            {"confirm_name": "Acme Corporation", "reason": "Left"},
        )
        queue = page(approver, reverse("orgadmin:change-list"))
        names = re.findall(r"<td>(Change [^<]*|Remove [^<]*|Delete)</td>", queue)
        assert sorted(names) == ["Change issuer URL, client id", "Delete", "Remove OIDC"]
        assert "<td>Update</td>" not in queue


class VoidReasonTests:
    @pytest.mark.parametrize("meanwhile", ["renamed", "deleted"])
    def test_a_request_approving_would_void_says_why_and_offers_no_approve(self, editor, approver, sandbox, meanwhile):
        change = request_new_issuer(editor)
        assert "Approve and send" in page(approver, change_url(change))
        if meanwhile == "renamed":
            sandbox.sandbox.organizations[GLOBEX_ID].name = "Globex Holdings"
            why = "The organization changed at Polytomic since the request (Name): approving it would void it"
        else:
            del sandbox.sandbox.organizations[GLOBEX_ID]
            why = "Polytomic no longer has the organization: approving it would void it"
        shown = page(approver, change_url(change))
        assert why in shown
        assert "Approve and send" not in shown
        assert ">Reject</button>" in shown

    def test_a_void_request_is_not_headed_what_will_change(self, editor, approver, sandbox):
        change = request_new_issuer(editor)
        assert "What will change at Polytomic" in page(approver, change_url(change))
        sandbox.sandbox.organizations[GLOBEX_ID].name = "Globex Holdings"
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        change.refresh_from_db()
        assert change.status == "void"
        shown = page(approver, change_url(change))
        assert "What will change" not in shown
        assert "<h2>What it would have changed at Polytomic, as the requester confirmed it</h2>" in shown
        assert "It was not carried out: void" in shown

    @pytest.mark.parametrize("meanwhile", ["renamed", "deleted"])
    def test_a_request_approving_would_void_is_headed_what_it_would_have_changed(
        self, editor, approver, sandbox, meanwhile
    ):
        change = request_new_issuer(editor)
        if meanwhile == "renamed":
            sandbox.sandbox.organizations[GLOBEX_ID].name = "Globex Holdings"
        else:
            del sandbox.sandbox.organizations[GLOBEX_ID]
        for viewer in (approver, editor):  # whoever reads it: the approver, its requester
            shown = page(viewer, change_url(change))
            heading = re.search(r"<section [^>]*data-change-heading>(.*?)</section>", shown, re.S)[1]
            assert "What will change" not in heading
            assert "<h2>What it would have changed at Polytomic, as the requester confirmed it</h2>" in heading
            assert "Approving it would send nothing: " in heading
            assert "callout--danger" not in shown.split("data-change-heading")[0].rsplit("<section", 1)[1]

    def test_a_delete_approving_would_void_does_not_say_it_will_delete(self, approver, sandbox, settings):
        settings.PORTAL_APPROVAL_FOR = [*settings.PORTAL_APPROVAL_FOR, "delete"]
        url = reverse("orgadmin:organization-delete", args=[GLOBEX_ID])
        assert signed_in("root", "Admin").post(url, {"confirm_name": "Globex", "reason": "Left"}).status_code == 302
        change = ChangeRequest.objects.get(kind="delete")
        assert "The organization will be deleted" in page(approver, change_url(change))
        sandbox.sandbox.organizations[GLOBEX_ID].name = "Globex Holdings"
        shown = page(approver, change_url(change))
        assert "The organization will be deleted" not in shown
        assert "What it would have changed at Polytomic" in shown


def withdraw(client: Client, change: ChangeRequest):
    return client.post(reverse("orgadmin:change-withdraw", args=[change.pk]))


class WithdrawTests:
    def test_the_requester_withdraws_and_it_is_recorded(self, editor, sandbox):
        change = request_new_issuer(editor)
        assert change.secret
        assert "Withdraw this request" in page(editor, change_url(change))
        sent_before = len(sandbox.sandbox.received)
        response = withdraw(editor, change)
        assert response.status_code == 302
        assert response["Location"] == change_url(change)
        change.refresh_from_db()
        assert (change.status, change.secret, change.decided_by) == ("withdrawn", "", None)
        entry = AuditEntry.objects.get(action="change.withdraw")
        assert (entry.actor_username, entry.change_request_id, entry.organization_id) == ("ed", change.pk, GLOBEX_ID)
        assert entry.request_body["requested_by"] == "ed"
        assert len(sandbox.sandbox.received) == sent_before  # nothing sent to Polytomic
        shown = page(editor, change_url(change))
        assert "Withdrawn by its requester" in shown
        assert "Withdraw this request" not in shown
        assert "waits for a second person" not in page(
            editor, reverse("orgadmin:organization-detail", args=[GLOBEX_ID])
        )
        assert request_new_issuer(editor).pk != change.pk  # a new one may be asked

    @pytest.mark.parametrize("role", ["Editor", "Admin"])
    def test_nobody_else_withdraws_it(self, editor, sandbox, role):
        change = request_new_issuer(editor)
        other = signed_in("eve", role)
        assert "Withdraw this request" not in page(other, change_url(change))
        assert withdraw(other, change).status_code == 403
        change.refresh_from_db()
        assert change.status == "pending"
        assert not AuditEntry.objects.filter(action="change.withdraw").exists()

    def test_a_decided_request_is_not_withdrawn(self, editor, approver, sandbox):
        change = request_new_issuer(editor)
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "reject", "comment": "No"})
        shown = editor.post(reverse("orgadmin:change-withdraw", args=[change.pk]), follow=True).content.decode()
        assert "This change request can no longer be withdrawn: rejected." in shown
        change.refresh_from_db()
        assert change.status == "rejected"

    def test_withdrawing_reads_a_few_queries(self, editor, sandbox, django_assert_max_num_queries):
        change = request_new_issuer(editor)
        # The session, the user, their permissions, the request, the guarded update, the request
        # again and its audit entry (a savepoint, the chain's lock, the last hash, the insert).
        with django_assert_max_num_queries(14):
            assert withdraw(editor, change).status_code == 302


class LinkTests:
    def test_an_editor_is_not_shown_the_audit_log_link(self, editor, approver, sandbox):
        change = request_new_issuer(editor)
        audit_link = reverse("orgadmin:audit-list") + f"?change={change.pk}"
        assert editor.get(audit_link).status_code == 403
        assert audit_link not in page(editor, change_url(change))
        assert audit_link in page(approver, change_url(change))
