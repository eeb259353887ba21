"""Four eyes: changes that can lock a customer out wait for a second person, and are sent only
on their approval, exactly as requested, once."""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID, INITECH_ID
from devtools.support import hidden_fields
from orgadmin.change_requests.steps import ENCRYPTION_PURPOSE
from orgadmin.models import ChangeRequest
from staff.encryption import fernet
from tests.factories import make_user
from tests.support import audit_refuses_inserts

pytestmark = pytest.mark.django_db

NEW_SECRET = "rotated-oidc-secret-4FOUREYES"


@pytest.fixture(autouse=True)
def _four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True


@pytest.fixture
def editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


@pytest.fixture
def approver():
    browser = Client()
    browser.force_login(make_user("ada", role="Admin"))
    return browser


def hidden(response) -> dict[str, str]:
    return hidden_fields(response.content.decode())


def writes(sandbox) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] in ("POST", "PUT", "DELETE")]


def request_a_new_issuer(client) -> ChangeRequest:
    """ed points Globex's OIDC at another identity provider, confirms the summary and says why."""
    url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
    typed = {
        "name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.entra.example",
        "client_id": "entra-client", "client_secret": NEW_SECRET,
    }  # fmt: skip
    summary = client.post(url, typed | hidden(client.get(url)))
    page = summary.content.decode()
    assert "This change waits for a second person" in page
    assert "Request approval" in page
    without_reason = client.post(url, typed | hidden(summary))
    assert without_reason.status_code == 422
    assert "Say why" in without_reason.content.decode()
    requested = client.post(url, typed | hidden(without_reason) | {"reason": "Globex moves to Entra (ticket 4711)"})
    assert requested.status_code == 302
    change = ChangeRequest.objects.get()
    assert requested["Location"] == reverse("orgadmin:change-detail", args=[change.pk])
    return change


class PolicyTests:
    def test_what_waits_for_a_second_person(self, editor, sandbox, settings):
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])

        def summary(**typed):
            data = {"name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"} | typed
            page = editor.post(url, data | hidden(editor.get(url))).content.decode()
            return "This change waits for a second person" in page

        assert summary(remove_saml="on")  # removing SSO
        assert summary(sso_domain="acme-new.example")  # changing where sign-in goes, where it is set
        assert summary(issuer="https://acme.okta.example", client_id="c", client_secret="s")  # OIDC beside SAML
        settings.PORTAL_APPROVAL_FOR = ["delete"]
        assert not summary(remove_saml="on")
        settings.PORTAL_FOUR_EYES = False
        settings.PORTAL_APPROVAL_FOR = ["remove-sso", "change-sso", "delete"]
        assert not summary(remove_saml="on")

    def test_a_rename_goes_straight_through(self, editor, sandbox):
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        typed = {"name": "Acme Renamed", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
        assert editor.post(url, typed | hidden(editor.get(url))).status_code == 302
        assert sandbox.sandbox.organizations[ACME_ID].name == "Acme Renamed"
        assert not ChangeRequest.objects.exists()


class SingleSignOnRoutingTests:
    """On an organization with single sign-on, what decides where its users sign in changes only
    with a second person: an Editor's save of it is a change request, never a PUT."""

    GLOBEX_BLOCK = {"name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.okta.example",
                    "client_id": "0oa-globex-client", "client_secret": NEW_SECRET}  # fmt: skip

    def save(self, client, typed: dict[str, str], reason: str = "Asked by the customer (ticket 5150)"):
        """Saves Globex's edit form as a person would: confirms the summary when shown one, and
        gives a reason when asked for one. The last answer."""
        url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
        answer = client.post(url, typed | hidden(client.get(url)))
        for _ in range(2):
            if answer.status_code == 302:
                break
            page = answer.content.decode()
            extra = {"reason": reason} if "This change waits for a second person" in page else {}
            answer = client.post(url, typed | hidden(answer) | extra)
        return answer

    def puts(self, sandbox) -> list[dict]:
        return [r for r in writes(sandbox) if r["method"] == "PUT"]

    def test_an_sso_organization_id_added_beside_oidc_is_requested_not_sent(self, editor, sandbox):
        answer = self.save(editor, self.GLOBEX_BLOCK | {"sso_org_id": "org_01SOMEONEELSE"})
        change = ChangeRequest.objects.get()
        assert answer["Location"] == reverse("orgadmin:change-detail", args=[change.pk])
        assert change.body["sso_org_id"] == "org_01SOMEONEELSE"
        assert self.puts(sandbox) == []
        assert sandbox.sandbox.organizations[GLOBEX_ID].sso_org_id is None

    def test_a_client_id_is_compared_with_the_one_last_sent(self, editor, approver, sandbox):
        """Globex's client id was never sent by the portal: even a rename, which must send it
        again, waits once; approved, the portal knows it, and a rename goes alone while a new
        client id waits."""
        renamed = self.GLOBEX_BLOCK | {"name": "Globex Corporation"}
        first = self.save(editor, renamed)
        change = ChangeRequest.objects.get()
        assert first["Location"] == reverse("orgadmin:change-detail", args=[change.pk])
        detail = approver.get(first["Location"]).content.decode()
        assert "“0oa-globex-client”, which cannot be compared with the one Polytomic has" in detail
        assert self.puts(sandbox) == []
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve", "comment": "ok"})
        assert len(self.puts(sandbox)) == 1

        again = self.save(editor, renamed | {"name": "Globex Inc"})
        assert again["Location"] == reverse("orgadmin:organization-detail", args=[GLOBEX_ID])
        assert sandbox.sandbox.organizations[GLOBEX_ID].name == "Globex Inc"
        assert ChangeRequest.objects.count() == 1

        swapped = self.save(editor, renamed | {"name": "Globex Inc", "client_id": "0oa-someone-elses-app"})
        assert swapped["Location"] == reverse("orgadmin:change-detail", args=[ChangeRequest.objects.latest("pk").pk])
        assert ChangeRequest.objects.count() == 2
        assert len(self.puts(sandbox)) == 2

    def test_the_first_single_sign_on_of_an_organization_goes_alone(self, editor, sandbox):
        url = reverse("orgadmin:organization-edit", args=[INITECH_ID])
        typed = {"name": "Initech", "issuer": "https://initech.okta.example", "client_id": "c", "client_secret": "s"}
        summary = editor.post(url, typed | hidden(editor.get(url)))
        assert "This change waits for a second person" not in summary.content.decode()
        assert editor.post(url, typed | hidden(summary)).status_code == 302
        assert sandbox.sandbox.organizations[INITECH_ID].issuer == "https://initech.okta.example"
        assert not ChangeRequest.objects.exists()


class RequestTests:
    def test_a_request_sends_nothing_and_keeps_the_secret_encrypted(self, editor, sandbox, caplog):
        before = len(writes(sandbox))
        change = request_a_new_issuer(editor)
        assert len(writes(sandbox)) == before
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer == "https://globex.okta.example"
        assert change.body == {
            "name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.entra.example",
            "client_id": "entra-client",
        }  # fmt: skip
        assert NEW_SECRET not in change.secret
        assert fernet(ENCRYPTION_PURPOSE).decrypt(change.secret.encode()).decode() == (
            f'{{"client_secret": "{NEW_SECRET}"}}'
        )
        assert (change.requested_by.username, change.status, change.reason) == (
            "ed", "pending", "Globex moves to Entra (ticket 4711)",
        )  # fmt: skip
        [entry] = AuditEntry.objects.filter(action="change.request")
        assert (entry.actor_username, entry.change_request_id) == ("ed", change.pk)
        assert entry.request_body["body"]["client_secret"] == "[set]"
        page = editor.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Waiting for an Admin other than you" in page
        for text in (page, caplog.text, str(list(AuditEntry.objects.values()))):
            assert NEW_SECRET not in text

    def test_a_delete_waits_with_a_reason(self, client, sandbox):
        client.force_login(make_user("root", role="Admin"))
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        refused = client.post(url, {"confirm_name": "Acme Corporation"})
        assert refused.status_code == 422
        assert "Say why" in refused.content.decode()
        assert client.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"}).status_code == 302
        assert ACME_ID in sandbox.sandbox.organizations
        assert ChangeRequest.objects.get().kind == "delete"

    def test_with_the_audit_log_refusing_nothing_is_requested(self, client, sandbox, caplog):
        client.force_login(make_user("root", role="Admin"))
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        with audit_refuses_inserts(action="change.request"):  # the page's read is recorded; the request not
            refused = client.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"})
        assert refused.status_code == 200
        assert "The audit log is unavailable, so nothing was sent to Polytomic" in refused.content.decode()
        assert 'value="Acme Corporation"' in refused.content.decode()
        assert not ChangeRequest.objects.exists()
        assert any(r.name == "orgadmin.security" for r in caplog.records)


class ApprovalTests:
    def test_another_admin_approves_and_exactly_the_request_is_sent_once(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        url = reverse("orgadmin:change-decide", args=[change.pk])
        detail = approver.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Approve and send" in detail
        assert "https://globex.entra.example" in detail  # the summary, as ed confirmed it

        approver.post(url, {"decision": "approve", "comment": "Checked with Globex"})
        [put] = [r for r in writes(sandbox) if r["method"] == "PUT"]
        assert put["body"] == {**change.body, "client_secret": NEW_SECRET}
        change.refresh_from_db()
        assert (change.status, change.secret, change.decided_by.username) == ("executed", "", "ada")
        actions = list(
            AuditEntry.objects.filter(change_request_id=change.pk)
            .order_by("id")
            .values_list("action", "actor_username")
        )
        assert [a for a, _ in actions if a.startswith("change.")] == [
            "change.request", "change.approve", "change.execute",
        ]  # fmt: skip
        approve = AuditEntry.objects.get(action="change.approve")
        assert (approve.request_body["requested_by"], approve.request_body["decided_by"]) == ("ed", "ada")
        assert ("organization.update", "ada") in actions

        again = approver.post(url, {"decision": "approve"}, follow=True)
        assert "already decided" in again.content.decode()
        assert len([r for r in writes(sandbox) if r["method"] == "PUT"]) == 1

    def test_the_requester_cannot_approve_not_even_through_the_database(self, client, sandbox):
        admin = make_user("root", role="Admin")
        client.force_login(admin)
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        client.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"})
        change = ChangeRequest.objects.get()
        page = client.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        assert "Approve and send" not in page
        refused = client.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True)
        assert "You asked for this change: another person must decide it." in refused.content.decode()
        assert ACME_ID in sandbox.sandbox.organizations
        with pytest.raises(IntegrityError), transaction.atomic():
            ChangeRequest.objects.filter(pk=change.pk).update(decided_by=admin, status="executing")

    @pytest.mark.parametrize("meanwhile", ["sso_domain", "renamed", "deleted"])
    def test_a_change_made_meanwhile_voids_the_request(self, editor, approver, sandbox, meanwhile):
        change = request_a_new_issuer(editor)
        organization = sandbox.sandbox.organizations[GLOBEX_ID]
        if meanwhile == "sso_domain":
            organization.sso_domain = "globex-moved.example"
        elif meanwhile == "renamed":
            organization.name = "Globex Holdings"
        else:
            del sandbox.sandbox.organizations[GLOBEX_ID]
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        change.refresh_from_db()
        assert (change.status, change.secret) == ("void", "")
        assert not [r for r in writes(sandbox) if r["method"] == "PUT"]
        assert AuditEntry.objects.filter(action="change.void", change_request_id=change.pk).exists()

    def test_polytomic_failing_leaves_it_to_send_again(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        url = reverse("orgadmin:change-decide", args=[change.pk])
        sandbox.sandbox.faults.queue.append(
            {"method": "PUT", "path": f"/api/organizations/{GLOBEX_ID}", "fault": "status:500"}
        )
        approver.post(url, {"decision": "approve"})
        change.refresh_from_db()
        assert change.status == "failed"
        assert change.secret  # kept to send again
        approver.post(url, {"decision": "approve"})
        change.refresh_from_db()
        assert (change.status, change.sends) == ("executed", 2)
        keys = [r["headers"].get("idempotency-key") for r in writes(sandbox) if r["method"] == "PUT"]
        assert len(keys) == 2
        assert len(set(keys)) == 2  # the retry is not answered with the failure's replay
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer == "https://globex.entra.example"

    def test_polytomics_refusal_is_shown_as_a_sentence(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        said = {"status": 422, "message": "issuer <b>not</b> reachable from polytomic"}
        sandbox.sandbox.faults.queue.append({"method": "PUT", "answer": {"status": 422, "body": said}})
        shown = approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True)
        page = shown.content.decode()
        assert (
            "<strong>Approved, Polytomic failed</strong> — Issuer &lt;b&gt;not&lt;/b&gt; reachable from polytomic."
            in page
        )
        change.refresh_from_db()
        assert change.result == "Issuer <b>not</b> reachable from polytomic."
        assert "<b>not</b>" not in page

    def test_approval_asks_for_a_recent_sign_in_check(self, editor, sandbox):
        change = request_a_new_issuer(editor)
        approver = Client()
        approver.force_login(make_user("ada", role="Admin"))
        with time_machine.travel(timezone.now() + timedelta(minutes=11)):
            asked = approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        assert "Confirm it is you" in asked.content.decode()
        change.refresh_from_db()
        assert change.status == "pending"

    def test_rejecting_needs_a_comment_and_erases_the_secret(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        url = reverse("orgadmin:change-decide", args=[change.pk])
        assert approver.post(url, {"decision": "reject"}).status_code == 422
        approver.post(url, {"decision": "reject", "comment": "Not before the customer confirms"})
        change.refresh_from_db()
        assert (change.status, change.secret, change.comment) == ("rejected", "", "Not before the customer confirms")
        assert not [r for r in writes(sandbox) if r["method"] == "PUT"]

    def test_an_expired_request_cannot_be_decided(self, editor, approver, sandbox):
        """Past its time, a request is expired at once, before the command records it: the queue
        shows it so, its page offers no decision, and approving or rejecting it is refused, sending nothing."""
        change = request_a_new_issuer(editor)
        with time_machine.travel(timezone.now() + timedelta(hours=25)):
            approver.force_login(make_user("ada2", role="Admin"))  # a fresh sign-in, a day later
            queue = approver.get(reverse("orgadmin:change-list")).content.decode()
            detail = approver.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
            refused = approver.post(
                reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True
            )
            not_rejected = approver.post(
                reverse("orgadmin:change-decide", args=[change.pk]),
                {"decision": "reject", "comment": "Too late"},
                follow=True,
            )
            change.refresh_from_db()
            assert change.status == "pending"  # recorded by the command, not by a page
            call_command("expire_change_requests", stdout=io.StringIO())
        assert re.search(rf"#{change.pk}</a></td>(?:\s*<td>[^<]*</td>){{4}}\s*<td>Expired</td>", queue)
        assert "No change is waiting." in queue
        assert "Your decision" not in detail
        assert "<strong>Expired</strong>" in detail
        assert "This change request has expired." in refused.content.decode()
        assert "This change request has expired." in not_rejected.content.decode()
        assert not [r for r in writes(sandbox) if r["method"] == "PUT"]
        change.refresh_from_db()
        assert (change.status, change.secret) == ("expired", "")
        assert AuditEntry.objects.filter(action="change.expire", change_request_id=change.pk).exists()


class QueueTests:
    def test_the_navigation_counts_what_waits_for_this_approver(self, editor, approver, sandbox):
        request_a_new_issuer(editor)
        page = approver.get(reverse("orgadmin:organization-list")).content.decode()
        assert re.search(r'Changes <span class="badge badge--count"[^>]*>1</span>', page)
        assert "badge--count" not in editor.get(reverse("orgadmin:organization-list")).content.decode()

    def test_the_queue_reads_a_few_queries_however_many_requests(
        self, editor, approver, sandbox, django_assert_max_num_queries
    ):
        request_a_new_issuer(editor)
        with django_assert_max_num_queries(10) as few:
            approver.get(reverse("orgadmin:change-list"))
        change = ChangeRequest.objects.get()
        decider = make_user("bea", role="Admin")
        for n in range(30):
            # Unknown ones are listed first, in a table of their own; past-due ones among the decided.
            shown = [{}, {"status": "unknown", "decided_by": decider}, {"expires_at": timezone.now()}][n % 3]
            ChangeRequest.objects.create(
                organization_id=change.organization_id, organization_name=f"Org {n}", kind="delete",
                organization_state={}, reason="r", requested_by=change.requested_by,
                **{"expires_at": change.expires_at, **shown},
            )  # fmt: skip
        with django_assert_max_num_queries(len(few.captured_queries)) as many:
            assert approver.get(reverse("orgadmin:change-list")).status_code == 200
        # A GET writes nothing: the expiries are the command's to record.
        assert not [q["sql"] for q in many.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]

    def test_the_audit_log_filters_by_change_request(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        detail = approver.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()
        link = re.search(r'<a href="([^"]+)">This request\'s entries</a>', detail)[1].replace("&amp;", "&")
        assert link == f"{reverse('orgadmin:audit-list')}?change={change.pk}&reads=on"  # its reads too
        page = approver.get(link).content.decode()
        actions = re.findall(r"<td>((?:Request|Approve|Carry|List|View|Update)[^<]*)</td>", page)
        # The request's life and the calls it made; not the edit form's reads, which came before it.
        assert sorted(set(actions)) == [
            "Approve a change", "Carry out an approved change", "Request a change", "Update organization",
            "View organization",
        ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_send_it_once(sandbox):
    requester = Client()
    requester.force_login(make_user("ed", role="Editor"))
    change = request_a_new_issuer(requester)
    approvers = []
    for name in ("ada", "bea"):
        browser = Client()
        browser.force_login(make_user(name, role="Admin"))
        approvers.append(browser)
    start = threading.Barrier(2)

    def approve(browser: Client) -> None:
        start.wait(timeout=10)
        browser.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"})
        connection.close()

    threads = [threading.Thread(target=approve, args=(browser,)) for browser in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len([r for r in writes(sandbox) if r["method"] == "PUT"]) == 1
    change.refresh_from_db()
    assert change.status == "executed"
    assert AuditEntry.objects.filter(action="change.approve").count() == 1


def test_the_command_expires_what_is_due_and_erases_its_secret(client, sandbox):
    client.force_login(make_user("ed", role="Editor"))
    change = request_a_new_issuer(client)
    out = io.StringIO()
    call_command("expire_change_requests", stdout=out)
    assert out.getvalue().splitlines()[0] == "Expired 0 change request(s)."
    out = io.StringIO()
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        call_command("expire_change_requests", stdout=out)
    assert out.getvalue().splitlines()[0] == "Expired 1 change request(s)."
    change.refresh_from_db()
    assert (change.status, change.secret) == ("expired", "")
    [entry] = AuditEntry.objects.filter(action="change.expire")
    assert (entry.actor_username, entry.request_body["requested_by"]) == ("portal", "ed")


# --- A send whose outcome is not known ------------------------------------------------------------

NEW_ISSUER = "https://globex.entra.example"


def approve(browser: Client, change: ChangeRequest, **options):
    return browser.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, **options)


def check_at_polytomic(browser: Client, change: ChangeRequest):
    return browser.post(reverse("orgadmin:change-check", args=[change.pk]), follow=True)


def detail(browser: Client, change: ChangeRequest) -> str:
    return browser.get(reverse("orgadmin:change-detail", args=[change.pk])).content.decode()


def as_a_killed_worker_leaves_it(change: ChangeRequest, decider, *, deadline_passed: bool = True) -> None:
    """The request as a worker killed while sending it leaves it in the database: taken (executing,
    decided, counted as sent) with its secret, and nothing after."""
    now = timezone.now()
    ChangeRequest.objects.filter(pk=change.pk).update(
        status="executing", decided_by=decider, decided_at=now - timedelta(minutes=5), sends=1,
        send_deadline=now + timedelta(seconds=-1 if deadline_passed else 60),
    )  # fmt: skip


def polytomic_made_the_change(sandbox) -> None:
    organization = sandbox.sandbox.organizations[GLOBEX_ID]
    organization.issuer, organization.client_id, organization.client_secret = NEW_ISSUER, "entra-client", NEW_SECRET


def check_entries(change: ChangeRequest) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="change.check", change_request_id=change.pk))


class OutcomeUnknownTests:
    def test_with_the_execute_entry_refused_the_page_says_it_was_sent_and_a_check_ends_it(
        self, editor, approver, sandbox
    ):
        change = request_a_new_issuer(editor)
        with audit_refuses_inserts(action="change.execute"):
            page = approve(approver, change, follow=True).content.decode()
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer == NEW_ISSUER  # the PUT reached Polytomic
        assert "nothing was sent" not in page
        assert "Polytomic answered that it is done, but the audit log could not record the outcome" in page
        assert "Sent — outcome not known" in page
        assert "Check at Polytomic" in page
        change.refresh_from_db()
        assert change.status == "unknown"
        assert change.secret  # kept until the check
        assert AuditEntry.objects.filter(action="change.unknown", change_request_id=change.pk).exists()

        checked = check_at_polytomic(approver, change).content.decode()
        assert "Approved and done: Polytomic shows the organization as the change sets it" in checked
        change.refresh_from_db()
        assert (change.status, change.secret) == ("executed", "")
        [entry] = check_entries(change)
        assert (entry.actor_username, entry.request_body["requested_by"], entry.request_body["decided_by"]) == (
            "ada", "ed", "ada",
        )  # fmt: skip
        assert (entry.request_body["found"], entry.request_body["status"]) == ("the change", "executed")
        assert len([r for r in writes(sandbox) if r["method"] == "PUT"]) == 1

    def test_with_every_entry_after_the_send_refused_it_is_still_marked_unknown(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        with audit_refuses_inserts(action=("change.execute", "change.unknown")):
            page = approve(approver, change, follow=True).content.decode()
        assert "Polytomic answered that it is done, but the audit log could not record the outcome" in page
        change.refresh_from_db()
        assert (change.status, bool(change.secret)) == ("unknown", True)  # marked alone: not left executing
        assert not AuditEntry.objects.filter(action__in=["change.execute", "change.unknown"]).exists()
        check_at_polytomic(approver, change)
        change.refresh_from_db()
        assert (change.status, change.secret) == ("executed", "")

    def test_a_request_whose_worker_died_before_sending_is_checked_and_can_be_sent_again(
        self, editor, approver, sandbox
    ):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        page = detail(approver, change)
        assert "Sent — outcome not known" in page
        assert "Approved, being sent" not in page
        assert "Check at Polytomic" in page
        queue = approver.get(reverse("orgadmin:change-list")).content.decode()
        assert queue.index(f"#{change.pk}") < queue.index("Waiting for a decision")  # listed first

        checked = check_at_polytomic(approver, change).content.decode()
        assert "the change did not take effect" in checked
        change.refresh_from_db()
        assert change.status == "failed"
        assert change.secret  # to be sent again
        assert check_entries(change)[0].request_body["found"] == "as before"
        approve(approver, change)
        change.refresh_from_db()
        assert (change.status, change.secret, change.sends) == ("executed", "", 2)
        assert sandbox.sandbox.organizations[GLOBEX_ID].client_secret == NEW_SECRET

    def test_a_request_whose_worker_died_after_sending_is_found_done(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        polytomic_made_the_change(sandbox)
        check_at_polytomic(approver, change)
        change.refresh_from_db()
        assert (change.status, change.secret) == ("executed", "")
        assert not writes(sandbox)

    def test_something_else_found_voids_it_saying_what(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        sandbox.sandbox.organizations[GLOBEX_ID].issuer = "https://globex.auth0.example"
        check_at_polytomic(approver, change)
        change.refresh_from_db()
        assert (change.status, change.secret) == ("void", "")
        assert "Issuer URL is “https://globex.auth0.example”" in change.result

    def test_a_request_still_being_sent_is_not_checked(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"), deadline_passed=False)
        page = detail(approver, change)
        assert "Approved, being sent" in page
        assert "Check at Polytomic" not in page
        assert "There is nothing to check" in check_at_polytomic(approver, change).content.decode()
        call_command("expire_change_requests", stdout=io.StringIO())
        change.refresh_from_db()
        assert change.status == "executing"
        assert not check_entries(change)

    def test_the_requester_does_not_check_it(self, editor, sandbox):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        assert "Check at Polytomic" not in detail(editor, change)
        assert check_at_polytomic(editor, change).status_code == 403  # Editors do not decide
        change.refresh_from_db()
        assert change.status == "executing"

    @pytest.mark.parametrize("sent", [True, False])
    def test_the_command_resolves_what_a_whole_portal_kill_left_and_erases_its_secret(self, editor, sandbox, sent):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        if sent:
            polytomic_made_the_change(sandbox)
        out = io.StringIO()
        call_command("verify_audit", "--no-checkpoint", stdout=out)
        assert f"change request {change.pk}  update Globex  requested by ed  approved by bea" in out.getvalue()
        with time_machine.travel(timezone.now() + timedelta(hours=25)):  # and the request's time is up
            call_command("expire_change_requests", stdout=out)
        change.refresh_from_db()
        assert change.secret == ""
        assert change.status == ("executed" if sent else "expired")
        assert f"change request {change.pk}  update Globex  " in out.getvalue()
        [entry] = check_entries(change)
        assert (entry.actor_username, entry.request_body["decided_by"]) == ("portal", "bea")
        out = io.StringIO()
        call_command("verify_audit", "--no-checkpoint", stdout=out)
        assert "Change requests sent with outcome unknown: none." in out.getvalue()

    def test_with_polytomic_unreadable_it_stays_unknown_and_says_so(self, editor, approver, sandbox):
        change = request_a_new_issuer(editor)
        as_a_killed_worker_leaves_it(change, make_user("bea", role="Admin"))
        sandbox.sandbox.faults.queue.extend(  # a read is tried three times
            [{"method": "GET", "path": f"/api/organizations/{GLOBEX_ID}", "fault": "status:503"}] * 3
        )
        page = check_at_polytomic(approver, change).content.decode()
        assert "Polytomic could not be read to find out what came of it" in page
        change.refresh_from_db()
        assert (change.status, bool(change.secret)) == ("unknown", True)
        check_at_polytomic(approver, change)
        change.refresh_from_db()
        assert change.status == "failed"

    def test_a_lost_answer_is_found_out_at_once(self, editor, approver, sandbox):
        """The PUT is made and its answer lost: the portal reads the organization and finds the change."""
        change = request_a_new_issuer(editor)
        sandbox.sandbox.faults.queue.append(
            {"method": "PUT", "path": f"/api/organizations/{GLOBEX_ID}", "fault": "drop"}
        )
        page = approve(approver, change, follow=True).content.decode()
        assert "Approved and done" in page
        change.refresh_from_db()
        assert (change.status, change.secret) == ("executed", "")
        assert "The update was sent; what came of it is not known" in change.result


class DeleteAnsweredNotFoundTests:
    def request_acme_delete(self, sandbox) -> ChangeRequest:
        requester = Client()
        requester.force_login(make_user("root", role="Admin"))
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        requester.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"})
        return ChangeRequest.objects.get()

    def test_a_404_to_the_delete_of_an_organization_still_there_is_not_done(self, approver, sandbox):
        change = self.request_acme_delete(sandbox)
        sandbox.sandbox.faults.queue.append(
            {"method": "DELETE", "path": f"/api/organizations/{ACME_ID}", "fault": "status:404"}
        )
        page = approve(approver, change, follow=True).content.decode()
        assert ACME_ID in sandbox.sandbox.organizations
        assert "Approved and done" not in page
        assert "Polytomic answered the delete with “not found”" in page
        assert "nothing was deleted" in page
        change.refresh_from_db()
        assert change.status == "failed"
        approve(approver, change)  # sent again, now deleted
        change.refresh_from_db()
        assert change.status == "executed"
        assert ACME_ID not in sandbox.sandbox.organizations

    def test_a_delete_whose_answer_was_lost_is_done_once_a_read_finds_it_gone(self, approver, sandbox):
        change = self.request_acme_delete(sandbox)
        sandbox.sandbox.faults.queue.append(
            {"method": "DELETE", "path": f"/api/organizations/{ACME_ID}", "fault": "drop"}
        )
        approve(approver, change)
        change.refresh_from_db()
        assert change.status == "executed"
        assert ACME_ID not in sandbox.sandbox.organizations
        assert check_entries(change)[0].request_body["found"] == "gone"
