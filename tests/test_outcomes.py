"""Writes whose answer was lost after Polytomic acted on them, or before it did: their outcome is
unknown, never failed; the page says so in words; a read of Polytomic finds out, and a resolution
entry names the attempt and what was found (orgadmin/outcomes.py)."""

from __future__ import annotations

import io
import re
import time
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, GLOBEX_ID, OWNER_ID, StoredOrganization
from devtools.support import hidden_fields
from orgadmin.models import ChangeRequest, Onboarding, OnboardingTask
from orgadmin.onboarding import flow as onboarding
from orgadmin.polytomic.fields import OrganizationInput
from orgadmin.polytomic.recording import CallRecord, record_attempt
from tests.factories import make_user
from tests.test_onboarding import flow_url, owner_connections, start

pytestmark = pytest.mark.django_db

CREATE = reverse("orgadmin:organization-create")
MAY_HAVE_DONE_IT = "Polytomic may have done this; the portal is checking."
PIED_PIPER = "7a1f0c2e-0000-4000-8000-00000000beef"
SETTLED = timedelta(minutes=5)  # past `outcomes.settle_seconds()` (three total timeouts, 60 s by default)


@pytest.fixture
def as_admin(client):
    client.force_login(make_user("ada", role="Admin"))
    return client


def fault(sandbox, method: str, path: str, kind: str) -> None:
    sandbox.sandbox.faults.queue.append({"method": method, "path": path, "fault": kind})


def attempts(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, phase="attempt").order_by("id"))


def resolution_of(attempt: AuditEntry) -> AuditEntry:
    [resolution] = AuditEntry.objects.filter(action="write.resolve", attempt_id=attempt.pk)
    return resolution


def until(condition, what: str) -> None:
    """Waits for the sandbox's thread to get there (a held request ending), for at most 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def resolve_writes() -> str:
    out = io.StringIO()
    call_command("resolve_writes", stdout=out)
    return out.getvalue()


def verify_audit() -> str:
    out = io.StringIO()
    call_command("verify_audit", "--no-checkpoint", stdout=out)
    return out.getvalue()


def edit_form(client, organization_id: str, **typed) -> dict[str, str]:
    page = client.get(reverse("orgadmin:organization-edit", args=[organization_id])).content.decode()
    return {"sso_domain": "acme.example", "sso_org_id": "org_01ACME", **typed, **hidden_fields(page)}


class DirectWriteTests:
    def test_a_create_made_and_its_answer_dropped_is_found_made(self, as_admin, sandbox):
        fault(sandbox, "POST", "/api/organizations", "drop")
        answer = as_admin.post(CREATE, {"name": "Dropped Co", "form_key": "d" * 32})
        made = next(o for o in sandbox.sandbox.organizations.values() if o.name == "Dropped Co")
        assert answer.status_code == 302
        assert answer["Location"] == reverse("orgadmin:organization-detail", args=[made.id])
        [attempt] = attempts("organization.create")
        outcome = AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome")
        assert outcome.outcome == "unknown"  # never "failed": Polytomic had made it
        resolution = resolution_of(attempt)
        assert (resolution.outcome, resolution.organization_id) == ("ok", made.id)
        assert (
            resolution.request_body["found"] == "Polytomic has the organization “Dropped Co” as sent: it was created."
        )

    def test_a_create_not_seen_yet_stays_unknown_and_its_retry_is_no_conflict(self, as_admin, sandbox, settings):
        """The create lands after its call gave up: the page says it may be done; a second form of
        the same name is refused by Polytomic as taken, by the very organization the first made."""
        settings.POLYTOMIC_READ_TIMEOUT = 0.5
        fault(sandbox, "POST", "/api/organizations", "hold")
        first = as_admin.post(CREATE, {"name": "Late Co", "form_key": "l" * 32})
        page = first.content.decode()
        assert first.status_code == 200
        assert MAY_HAVE_DONE_IT in page
        assert "The organization was not saved" not in page
        [attempt] = attempts("organization.create")
        assert AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome").outcome == "unknown"
        assert not AuditEntry.objects.filter(action="write.resolve").exists()  # not seen: it may still land
        sandbox.sandbox.release.set()
        until(lambda: None not in sandbox.sandbox.idempotency.values(), "the held create ending")

        again = as_admin.post(CREATE, {"name": "Late Co", "form_key": "m" * 32})  # another form: another key
        made = next(o for o in sandbox.sandbox.organizations.values() if o.name == "Late Co")
        assert again.status_code == 302
        assert again["Location"] == reverse("orgadmin:organization-detail", args=[made.id])
        assert resolution_of(attempt).outcome == "ok"
        assert [o.name for o in sandbox.sandbox.organizations.values()].count("Late Co") == 1

    def test_an_update_made_and_its_answer_dropped_is_found_made(self, as_admin, sandbox):
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "drop")
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        answer = as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Renamed"))
        assert answer.status_code == 302
        [attempt] = attempts("organization.update")
        assert AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome").outcome == "unknown"
        assert resolution_of(attempt).outcome == "ok"
        assert sandbox.sandbox.organizations[ACME_ID].name == "Acme Renamed"

    def test_an_update_not_made_stays_unknown_until_it_can_no_longer_land(self, as_admin, sandbox):
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "garbage")  # a 200 that is not JSON, nothing done
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        answer = as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Maybe"))
        assert answer.status_code == 200
        assert MAY_HAVE_DONE_IT in answer.content.decode()
        [attempt] = attempts("organization.update")
        outcome = AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome")
        assert f'href="/audit/{outcome.pk}/"' in as_admin.get("/audit/?outcome=unknown").content.decode()
        assert "0 resolved, 0 left" in resolve_writes()  # younger than a call can take: not looked at
        assert f"  entry {attempt.pk} " not in verify_audit()  # younger than a call can take
        with time_machine.travel(timezone.now() + SETTLED):
            assert f"  entry {attempt.pk} " in verify_audit()
            printed = resolve_writes()
            assert "1 resolved, 0 left" in printed
            assert f"  entry {attempt.pk} " not in verify_audit()
        resolution = resolution_of(attempt)
        assert resolution.outcome == "failed"
        assert "the update was not made" in resolution.error_message

    def test_a_delete_made_and_its_answer_dropped_is_found_done(self, as_admin, sandbox):
        fault(sandbox, "DELETE", f"/api/organizations/{ACME_ID}", "drop")
        url = reverse("orgadmin:organization-delete", args=[ACME_ID])
        answer = as_admin.post(
            url, {"confirm_name": "Acme Corporation", **hidden_fields(as_admin.get(url).content.decode())}
        )
        assert answer.status_code == 302
        assert ACME_ID not in sandbox.sandbox.organizations
        [attempt] = attempts("organization.delete")
        assert AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome").outcome == "unknown"
        assert (
            resolution_of(attempt).request_body["found"] == "Polytomic no longer has the organization: it is deleted."
        )

    def test_an_update_whose_effect_a_later_save_replaced_is_settled_unknown_never_failed(
        self, as_admin, sandbox, settings
    ):
        """A save that lands after its call gave up, then a later save of the same organization: the
        read shows the later name whether or not the first was made, so the resolution says it
        cannot tell, and settles it."""
        settings.POLYTOMIC_READ_TIMEOUT = 0.5
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "hold")
        assert MAY_HAVE_DONE_IT in as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme First")).content.decode()
        [first] = attempts("organization.update")
        assert not AuditEntry.objects.filter(action="write.resolve").exists()  # not seen: it may still land
        sandbox.sandbox.release.set()
        until(lambda: sandbox.sandbox.organizations[ACME_ID].name == "Acme First", "the held save landing")
        assert as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Second")).status_code == 302
        later = attempts("organization.update")[-1]
        with time_machine.travel(timezone.now() + SETTLED):
            printed = resolve_writes()
            assert f"  entry {first.pk} " not in verify_audit()
        assert "1 resolved, 0 left" in printed
        assert "cannot be told" in printed
        resolution = resolution_of(first)
        assert resolution.outcome == "unknown"  # not "failed": it was made
        assert resolution.error_message.startswith(
            f"A later write of the portal's (entry {later.pk}, organization.update)"
        )
        assert "can no longer tell whether it was made" in resolution.error_message

    def test_an_update_not_seen_and_overtaken_only_by_a_failed_save_is_still_found_not_made(self, as_admin, sandbox):
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "garbage")  # nothing done
        as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Maybe"))
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "status:500")  # a later save, nothing done either
        as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Other"))
        first = attempts("organization.update")[0]
        with time_machine.travel(timezone.now() + SETTLED):
            resolve_writes()
        assert resolution_of(first).outcome == "failed"

    def test_a_create_deleted_later_by_name_is_settled_unknown(self, as_admin, sandbox):
        ada = AuditContext(actor=None, actor_label="ada")
        creating = CallRecord(context=ada, action="organization.create", method="POST", path="/api/organizations",
                              request_body={"name": "Gone Co"})  # fmt: skip
        record_attempt(creating)
        deleting = CallRecord(context=ada, action="organization.delete", method="DELETE",
                              path=f"/api/organizations/{PIED_PIPER}", organization_id=PIED_PIPER,
                              organization_name="gone co")  # fmt: skip
        record_attempt(deleting)
        with time_machine.travel(timezone.now() + SETTLED):
            resolve_writes()
        resolution = resolution_of(AuditEntry.objects.get(pk=creating.attempt_id))
        assert resolution.outcome == "unknown"
        assert resolution.error_message.startswith(
            f"A later write of the portal's (entry {deleting.attempt_id}, organization.delete)"
        )

    def test_the_organizations_page_resolves_its_writes_as_it_shows_them(self, as_admin, sandbox):
        fault(sandbox, "PUT", f"/api/organizations/{ACME_ID}", "garbage")
        url = reverse("orgadmin:organization-edit", args=[ACME_ID])
        as_admin.post(url, edit_form(as_admin, ACME_ID, name="Acme Maybe"))
        [attempt] = attempts("organization.update")
        sandbox.sandbox.organizations[ACME_ID].name = "Acme Maybe"  # it landed after all
        with time_machine.travel(timezone.now() + SETTLED):
            as_admin.get(reverse("orgadmin:organization-detail", args=[ACME_ID]))
        assert resolution_of(attempt).outcome == "ok"


@pytest.fixture
def four_eyes(settings):
    settings.PORTAL_FOUR_EYES = True


@pytest.mark.usefixtures("four_eyes")
class ApprovedWriteTests:
    def requested(self, kind: str) -> tuple[ChangeRequest, Client]:
        requester, approver = Client(), Client()
        requester.force_login(make_user("root", role="Admin"))
        approver.force_login(make_user("ada", role="Admin"))
        if kind == "delete":
            url = reverse("orgadmin:organization-delete", args=[ACME_ID])
            requester.post(url, {"confirm_name": "Acme Corporation", "reason": "Customer left"})
        else:
            url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
            typed = {"name": "Globex", "sso_domain": "globex.example", "issuer": "https://globex.entra.example",
                     "client_id": "entra-client", "client_secret": "s3cret-rotated"}  # fmt: skip
            summary = requester.post(url, typed | hidden_fields(requester.get(url).content.decode()))
            requester.post(url, typed | hidden_fields(summary.content.decode()) | {"reason": "moves to Entra"})
        return ChangeRequest.objects.get(), approver

    @pytest.mark.parametrize("kind", ["update", "delete"])
    def test_an_approved_write_made_and_its_answer_dropped_is_done(self, sandbox, kind):
        change, approver = self.requested(kind)
        target = ACME_ID if kind == "delete" else GLOBEX_ID
        fault(sandbox, "DELETE" if kind == "delete" else "PUT", f"/api/organizations/{target}", "drop")
        page = approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True)
        change.refresh_from_db()
        assert change.status == "executed"
        assert "Approved and done" in page.content.decode()
        [attempt] = AuditEntry.objects.filter(phase="attempt", change_request_id=change.pk)
        assert AuditEntry.objects.get(attempt_id=attempt.pk, phase="outcome").outcome == "unknown"
        assert resolution_of(attempt).outcome == "ok"

    def test_an_approved_update_not_seen_is_unknown_not_failed_and_found_out_later(self, sandbox):
        change, approver = self.requested("update")
        fault(sandbox, "PUT", f"/api/organizations/{GLOBEX_ID}", "garbage")
        page = approver.post(reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}, follow=True)
        change.refresh_from_db()
        assert change.status == "unknown"
        assert MAY_HAVE_DONE_IT in page.content.decode()
        [attempt] = AuditEntry.objects.filter(phase="attempt", change_request_id=change.pk)
        with time_machine.travel(timezone.now() + SETTLED):
            call_command("expire_change_requests", stdout=io.StringIO())
        change.refresh_from_db()
        assert change.status == "failed"  # nothing took effect: it can be sent again
        assert resolution_of(attempt).outcome == "failed"


class OnboardingTests:
    """An onboarding's tasks use the same unknown state: the form locked, no "leave out" while it
    may have been done, found out by reading as the flow's page shows it."""

    @pytest.fixture
    def flow(self, as_admin, sandbox):
        start(as_admin, name="Hooli")
        return Onboarding.objects.get()

    def share_one(self, client, sandbox, flow, kind: str) -> OnboardingTask:
        connection = owner_connections(sandbox)["Sales CRM"]
        fault(sandbox, "POST", f"/api/organizations/{OWNER_ID}/connections/{connection}/shared", kind)
        client.post(flow_url(flow, "onboarding-connections"), {"connections": [connection]})
        return flow.tasks.get(step="connections")

    def test_a_share_made_and_its_answer_dropped_is_found_done_as_the_page_shows_it(self, as_admin, sandbox, flow):
        task = self.share_one(as_admin, sandbox, flow, "drop")
        assert task.state == "unknown"  # no answer said what came of it
        as_admin.get(flow_url(flow))
        task.refresh_from_db()
        [copy] = [c for c in sandbox.sandbox.stored_connections.values() if c.organization_id == flow.organization_id]
        assert (task.state, task.polytomic_id) == ("done", copy.id)
        [attempt] = attempts("connection.share")
        assert resolution_of(attempt).outcome == "ok"

    def test_a_share_of_unknown_outcome_is_not_offered_to_leave_out(self, as_admin, sandbox, flow):
        task = self.share_one(as_admin, sandbox, flow, "garbage")  # a 200 that is not JSON, nothing shared
        page = as_admin.get(flow_url(flow)).content.decode()
        assert MAY_HAVE_DONE_IT in page
        assert "Leave this out" not in page
        as_admin.post(reverse("orgadmin:onboarding-skip", args=[flow.pk, task.pk]))
        task.refresh_from_db()
        assert task.state == "unknown"
        with time_machine.travel(timezone.now() + SETTLED):
            page = as_admin.get(flow_url(flow)).content.decode()
        task.refresh_from_db()
        assert (task.state, task.attempt) == ("failed", 1)  # not shared: a retry sends it with a new key
        assert "Leave this out" in page
        assert resolution_of(attempts("connection.share")[0]).outcome == "failed"

    @pytest.mark.parametrize("landed", [True, False])
    def test_an_organization_create_cut_by_a_killed_worker_is_found_out(self, as_admin, sandbox, landed):
        """As a worker killed mid-create leaves it: the task unknown, its attempt recorded, nothing
        after; the create lands later (or never)."""
        flow = onboarding.start(actor=make_user("ed", role="Editor"), correlation_id=uuid.uuid4(),
                                data=OrganizationInput(name="Pied Piper"), issuer_check=None)  # fmt: skip
        task = flow.tasks.get()
        OnboardingTask.objects.filter(pk=task.pk).update(state="unknown")
        context = onboarding.flow_context(AuditContext(actor=None, actor_label="ed"), flow)
        key = onboarding._task_key(flow, task, "organization.create")
        sent = CallRecord(context=context, action="organization.create", method="POST", path="/api/organizations",
                          request_body={"name": "Pied Piper"}, idempotency_key=key)  # fmt: skip
        record_attempt(sent)
        page = as_admin.get(flow_url(flow)).content.decode()
        assert re.search(r'name="name"[^>]*disabled|disabled[^>]*name="name"', page)  # locked: sent as it was
        assert MAY_HAVE_DONE_IT in page
        if landed:
            sandbox.sandbox.organizations[PIED_PIPER] = StoredOrganization(
                id=PIED_PIPER, partner="partner", name="Pied Piper"
            )
        with time_machine.travel(timezone.now() + SETTLED):
            as_admin.get(flow_url(flow))
        task.refresh_from_db()
        flow.refresh_from_db()
        if landed:
            assert (task.state, task.polytomic_id, flow.organization_id) == (
                "done",
                *["7a1f0c2e-0000-4000-8000-00000000beef"] * 2,
            )
        else:
            assert (task.state, flow.organization_id) == ("failed", "")
        [attempt] = attempts("organization.create")
        assert resolution_of(attempt).outcome == ("ok" if landed else "failed")
