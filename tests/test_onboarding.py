"""Onboarding a customer in one flow, against the sandbox: the organization (its issuer checked
first), the partner's connections shared into it, its first administrators; and the flow stopped
by a failure at each step, then resumed, with nothing done twice."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import OWNER_ID
from devtools.support import hidden_fields
from orgadmin.models import Onboarding, OnboardingTask
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NEW = reverse("orgadmin:onboarding-new")


@pytest.fixture
def as_editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


def organization_form(client, **fields) -> dict[str, str]:
    """The first step's form, as shown, filled with `fields`."""
    page = client.get(NEW).content.decode()
    return {**hidden_fields(page), "name": "Hooli", **fields}


def start(client, **fields) -> tuple[Onboarding, object]:
    answer = client.post(NEW, organization_form(client, **fields))
    return Onboarding.objects.get(), answer


def flow_url(flow: Onboarding, name: str = "onboarding-detail") -> str:
    return reverse(f"orgadmin:{name}", args=[flow.pk])


def owner_connections(sandbox) -> dict[str, str]:
    return {c.name: c.id for c in sandbox.sandbox.stored_connections.values() if c.organization_id == OWNER_ID}


def copies_in(sandbox, organization_id: str) -> list:
    return [c for c in sandbox.sandbox.stored_connections.values() if c.organization_id == organization_id]


def users_of(sandbox, organization_id: str) -> list[str]:
    return sorted(u.email for u in sandbox.sandbox.users.values() if u.organization_id == organization_id)


def posts(sandbox, path_part: str) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == "POST" and path_part in r["path"]]


def tasks(flow: Onboarding, step: str) -> list[tuple[str, str]]:
    return [(t.label, t.state) for t in flow.tasks.filter(step=step)]


class WholeFlowTests:
    def test_organization_connections_administrators_then_done(self, as_editor, sandbox):
        flow, answer = start(as_editor, sso_domain="hooli.example", sso_org_id="org_hooli")
        assert answer.status_code == 302
        assert answer["Location"] == flow_url(flow)
        created = next(o for o in sandbox.sandbox.organizations.values() if o.name == "Hooli")
        assert (flow.organization_id, flow.organization_name) == (created.id, "Hooli")

        page = as_editor.get(flow_url(flow)).content.decode()
        assert "Step 2 of 3" in page
        # The customer's OIDC can come from their own admin: a setup link for the new organization.
        assert f'href="{reverse("orgadmin:setup-links", args=[created.id])}" data-setup-link' in page
        assert "Analytics warehouse (Snowflake)" in page
        assert "Sales CRM (Salesforce)" in page
        chosen = owner_connections(sandbox)
        answer = as_editor.post(
            flow_url(flow, "onboarding-connections"),
            {"connections": [chosen["Analytics warehouse"], chosen["Sales CRM"]]},
        )
        assert answer.status_code == 302
        assert sorted(c.parent_id for c in copies_in(sandbox, created.id)) == sorted(
            [chosen["Analytics warehouse"], chosen["Sales CRM"]]
        )

        page = as_editor.get(flow_url(flow)).content.decode()
        assert "Step 3 of 3" in page
        assert re.search(r'value="[^"]+"[^>]*checked[^>]*>\s*Admin', page) or re.search(
            r'checked[^>]*value="[^"]+"[^>]*>\s*Admin', page
        ), "the Admin role is chosen by default"
        admin_role = next(
            r.id for r in sandbox.sandbox.roles.values() if r.organization_id == created.id and r.name == "Admin"
        )
        answer = as_editor.post(
            flow_url(flow, "onboarding-administrators"),
            {"emails": "Owner@Hooli.example\nit@hooli.example, owner@hooli.example", "role_ids": [admin_role]},
        )
        assert answer.status_code == 302
        assert users_of(sandbox, created.id) == ["it@hooli.example", "owner@hooli.example"]

        flow.refresh_from_db()
        assert flow.status == Onboarding.Status.DONE
        assert flow.closed_by.username == "ed"
        done = as_editor.get(flow_url(flow)).content.decode()
        assert "What this onboarding did" in done
        assert "Invited: it@hooli.example" in done
        # Every call of the flow carries its correlation id, and nothing else does.
        calls = AuditEntry.objects.exclude(phase="attempt")
        assert set(calls.values_list("correlation_id", flat=True)) == {flow.correlation_id}
        assert set(calls.values_list("action", flat=True)) >= {
            "organization.create", "connection.list", "connection.share", "role.list", "user.invite"
        }  # fmt: skip

    def test_an_empty_choice_shares_nothing_and_moves_on(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        as_editor.post(flow_url(flow, "onboarding-connections"), {})
        flow.refresh_from_db()
        assert flow.connections_chosen
        assert not copies_in(sandbox, flow.organization_id)
        assert "Step 3 of 3" in as_editor.get(flow_url(flow)).content.decode()

    def test_bad_administrator_input_is_shown_again(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        as_editor.post(flow_url(flow, "onboarding-connections"), {})
        answer = as_editor.post(flow_url(flow, "onboarding-administrators"), {"emails": "not-an-email", "role_ids": []})
        assert answer.status_code == 422
        page = answer.content.decode()
        assert "“not-an-email” is not an email address." in page
        assert "Choose at least one role." in page
        assert not posts(sandbox, "/users")


@pytest.mark.usefixtures("customer_identity_provider")
class IssuerCheckTests:
    def oidc(self, sandbox, tenant: str) -> dict[str, str]:
        issuer = f"{sandbox.tls_url}/_idp/{tenant}"
        return {"issuer": issuer, "client_id": "hooli-client", "client_secret": "s3cret-value"}

    def test_a_matching_issuer_is_saved_with_its_check(self, as_editor, sandbox):
        flow, answer = start(as_editor, **self.oidc(sandbox, "good"))
        assert answer.status_code == 302
        assert flow.issuer_check["passed"]
        assert flow.issuer_check["authorization_host"] == "login.good.example"
        assert "s3cret-value" not in str(flow.organization_input)
        assert flow.organization_input["client_id"]
        check = AuditEntry.objects.get(action="issuer.check")
        assert check.correlation_id == flow.correlation_id

    @pytest.mark.parametrize("tenant", ["trailing-slash", "garbage"])
    def test_a_failed_check_holds_the_form_until_saved_anyway(self, as_editor, sandbox, tenant):
        fields = organization_form(as_editor, **self.oidc(sandbox, tenant))
        held = as_editor.post(NEW, fields)
        assert held.status_code == 200
        assert "The issuer check found a problem" in held.content.decode()
        assert not Onboarding.objects.exists()
        assert not posts(sandbox, "/api/organizations")
        saved = as_editor.post(NEW, {**fields, "save_anyway": "on"})
        assert saved.status_code == 302
        flow = Onboarding.objects.get()
        assert flow.issuer_check["saved_anyway"]
        assert not flow.issuer_check["passed"]
        checks = AuditEntry.objects.filter(action="issuer.check")
        assert {e.correlation_id for e in checks} == {flow.correlation_id}
        assert checks.count() == 2

    def test_an_unreachable_issuer_warns(self, as_editor, sandbox, settings):
        settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = ["https://127.0.0.1:9"]  # nothing listens there
        fields = organization_form(as_editor, issuer="https://127.0.0.1:9", client_id="c", client_secret="s")
        held = as_editor.post(NEW, fields).content.decode()
        assert "could not be reached" in held
        assert "Save anyway" in held

    def test_a_forged_flow_token_is_refused(self, as_editor, sandbox):
        answer = as_editor.post(NEW, {**organization_form(as_editor), "flow": "forged"})
        assert answer.status_code == 422
        assert "This form is damaged" in answer.content.decode()
        assert not posts(sandbox, "/api/organizations")


class OrganizationStepFailureTests:
    def test_a_taken_name_lands_on_the_field_and_the_corrected_one_goes_on(self, as_editor, sandbox):
        flow, answer = start(as_editor, name="Acme Corporation")
        assert answer.status_code == 422
        page = answer.content.decode()
        assert re.search(r'id="id_name_error"', page) or "already" in page
        assert tasks(flow, "organization") == [("Acme Corporation", "failed")]
        again = as_editor.post(flow_url(flow, "onboarding-org"), {**hidden_fields(page), "name": "Hooli"})
        assert again.status_code == 302
        flow.refresh_from_db()
        assert flow.organization_name == "Hooli"
        [first, second] = posts(sandbox, "/api/organizations")
        assert first["headers"]["idempotency-key"] != second["headers"]["idempotency-key"]

    def test_no_answer_keeps_the_key_and_the_input_so_the_retry_creates_it_once(self, as_editor, sandbox, settings):
        settings.POLYTOMIC_READ_TIMEOUT = 0.5  # the create is held past it: it lands once released
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "hold"})
        flow, answer = start(as_editor, name="Hooli")
        assert answer.status_code == 200
        assert "may have created the organization" in answer.content.decode()
        assert tasks(flow, "organization") == [("Hooli", "unknown")]
        page = as_editor.get(flow_url(flow)).content.decode()
        assert re.search(r'name="name"[^>]*disabled|disabled[^>]*name="name"', page)
        sandbox.sandbox.release.set()
        deadline = time.monotonic() + 10
        while None in sandbox.sandbox.idempotency.values():  # the held create, still in flight
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # A changed name is not taken: the retry sends what was sent, with the same key.
        retried = as_editor.post(flow_url(flow, "onboarding-org"), {**hidden_fields(page), "name": "Other"})
        assert retried.status_code == 302
        assert [o.name for o in sandbox.sandbox.organizations.values()].count("Hooli") == 1
        first, second = posts(sandbox, "/api/organizations")
        assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"]
        assert first["body"] == second["body"]


class LaterStepFailureTests:
    def test_a_failed_share_stops_the_step_and_the_retry_shares_the_rest_once(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        chosen = owner_connections(sandbox)
        order = [chosen["Analytics warehouse"], chosen["Sales CRM"], chosen["Marketing"]]
        second = f"/api/organizations/{OWNER_ID}/connections/{order[1]}/shared"
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": second, "fault": "status:500"})
        as_editor.post(flow_url(flow, "onboarding-connections"), {"connections": order})
        assert [state for _, state in tasks(flow, "connections")] == ["done", "failed", "pending"]
        page = as_editor.get(flow_url(flow)).content.decode()
        assert "Retry this step" in page
        assert "Polytomic is not able to answer right now" in page

        as_editor.post(flow_url(flow, "onboarding-connections"))
        assert [state for _, state in tasks(flow, "connections")] == ["done", "done", "done"]
        assert sorted(c.parent_id for c in copies_in(sandbox, flow.organization_id)) == sorted(order)
        keys = [r["headers"]["idempotency-key"] for r in posts(sandbox, second)]
        assert len(keys) == 2
        assert keys[0] != keys[1]

    def test_a_failed_invitation_can_be_left_out_once_another_is_done(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        as_editor.post(flow_url(flow, "onboarding-connections"), {})
        roles = [r.id for r in sandbox.sandbox.roles.values() if r.organization_id == flow.organization_id]
        sandbox.sandbox.faults.queue.append({
            "method": "POST", "path": f"/api/organizations/{flow.organization_id}/users",
            "answer": {"status": 422, "body": {"status": 422, "message": "invalid", "metadata": {"email": "no"}}},
        })  # fmt: skip
        as_editor.post(flow_url(flow, "onboarding-administrators"), {"emails": "a@hooli.example\nb@hooli.example",
                                                                     "role_ids": roles[:1]})  # fmt: skip
        assert tasks(flow, "administrators") == [("a@hooli.example", "failed"), ("b@hooli.example", "pending")]
        page = as_editor.get(flow_url(flow)).content.decode()
        assert "Leave this out" in page
        assert "Invite and finish" not in page
        failed = flow.tasks.get(label="a@hooli.example")
        as_editor.post(reverse("orgadmin:onboarding-skip", args=[flow.pk, failed.pk]))
        flow.refresh_from_db()
        assert flow.status == Onboarding.Status.OPEN  # b is still to send
        as_editor.post(flow_url(flow, "onboarding-administrators"))
        assert tasks(flow, "administrators") == [("a@hooli.example", "skipped"), ("b@hooli.example", "done")]
        flow.refresh_from_db()
        assert flow.status == Onboarding.Status.DONE
        assert users_of(sandbox, flow.organization_id) == ["b@hooli.example"]

    def test_a_step_run_by_someone_else_is_not_run_again(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        Onboarding.objects.filter(pk=flow.pk).update(running_since=timezone.now(), running_by="ada")
        answer = as_editor.post(flow_url(flow, "onboarding-connections"), {}, follow=True)
        assert "ada is running a step of this onboarding right now" in answer.content.decode()
        flow.refresh_from_db()
        assert not flow.tasks.filter(step="connections").exists()
        # A claim left by a process that died expires.
        Onboarding.objects.filter(pk=flow.pk).update(running_since=timezone.now() - timedelta(hours=1))
        as_editor.post(flow_url(flow, "onboarding-connections"), {})
        flow.refresh_from_db()
        assert flow.connections_chosen
        assert flow.running_since is None

    def test_nothing_is_left_out_while_a_step_runs(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        chosen = owner_connections(sandbox)
        sandbox.sandbox.faults.queue.append({"method": "POST", "fault": "status:500"})
        as_editor.post(flow_url(flow, "onboarding-connections"), {"connections": [chosen["Marketing"]]})
        failed = flow.tasks.get(step="connections")
        Onboarding.objects.filter(pk=flow.pk).update(running_since=timezone.now(), running_by="ada")
        answer = as_editor.post(reverse("orgadmin:onboarding-skip", args=[flow.pk, failed.pk]), follow=True)
        assert "ada is running a step" in answer.content.decode()
        failed.refresh_from_db()
        assert failed.state == "failed"

    def test_a_stale_form_of_a_finished_step_sends_nothing(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        again = as_editor.post(flow_url(flow, "onboarding-org"), organization_form(as_editor), follow=True)
        assert "moved on meanwhile: nothing was sent" in again.content.decode()
        assert len(posts(sandbox, "/api/organizations")) == 1


class AbandonTests:
    def test_abandoning_keeps_what_was_created_and_sends_nothing_more(self, as_editor, sandbox):
        flow, _ = start(as_editor)
        confirm = as_editor.get(flow_url(flow, "onboarding-abandon")).content.decode()
        assert "Nothing is undone" in confirm
        assert "Hooli" in confirm
        as_editor.post(flow_url(flow, "onboarding-abandon"))
        flow.refresh_from_db()
        assert flow.status == Onboarding.Status.ABANDONED
        assert flow.closed_by.username == "ed"
        page = as_editor.get(flow_url(flow)).content.decode()
        assert "What stays at Polytomic" in page
        assert reverse("orgadmin:organization-detail", args=[flow.organization_id]) in page
        before = len(sandbox.sandbox.received)
        as_editor.post(flow_url(flow, "onboarding-connections"), {})
        assert len(sandbox.sandbox.received) == before
        assert "Hooli" in [o.name for o in sandbox.sandbox.organizations.values()]

    def test_the_list_shows_open_flows_to_anyone_allowed_and_closed_ones_apart(self, as_editor, client, sandbox):
        flow, _ = start(as_editor)
        client.force_login(make_user("ada", role="Admin"))
        page = client.get(reverse("orgadmin:onboarding-list")).content.decode()
        assert f"#{flow.pk}" in page
        assert "Hooli" in page
        assert "2 of 3" in page
        client.post(flow_url(flow, "onboarding-abandon"))
        page = client.get(reverse("orgadmin:onboarding-list")).content.decode()
        assert "No onboarding is in progress." in page
        assert "Abandoned (ada)" in page


class AccessTests:
    @pytest.mark.parametrize("name", ["onboarding-list", "onboarding-new"])
    def test_a_viewer_is_refused(self, client, name):
        client.force_login(make_user("vera", role="Viewer"))
        assert client.get(reverse(f"orgadmin:{name}")).status_code == 403

    def test_a_viewer_cannot_run_a_step_of_anothers_flow(self, as_editor, client, sandbox):
        flow, _ = start(as_editor)
        client.force_login(make_user("vera", role="Viewer"))
        for name in ("onboarding-detail", "onboarding-abandon"):
            assert client.get(flow_url(flow, name)).status_code == 403
        for name in ("onboarding-connections", "onboarding-administrators", "onboarding-abandon"):
            assert client.post(flow_url(flow, name), {}).status_code == 403


class QueryCountTests:
    def test_the_list_costs_the_same_however_many_flows(self, as_editor, sandbox, django_assert_max_num_queries):
        start(as_editor)
        with django_assert_max_num_queries(8) as few:
            as_editor.get(reverse("orgadmin:onboarding-list"))
        editor = Onboarding.objects.get().started_by
        for n in range(15):
            flow = Onboarding.objects.create(correlation_id=f"00000000-0000-4000-8000-{n:012d}", key="k" * 32,
                                             started_by=editor, organization_input={"name": f"Flow {n}"})  # fmt: skip
            OnboardingTask.objects.create(onboarding=flow, step="organization", label=f"Flow {n}")
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert as_editor.get(reverse("orgadmin:onboarding-list")).status_code == 200

    def test_a_done_flows_page_reads_a_few_queries(self, as_editor, sandbox, django_assert_max_num_queries):
        flow, _ = start(as_editor)
        Onboarding.objects.filter(pk=flow.pk).update(status=Onboarding.Status.ABANDONED, closed_at=timezone.now())
        with django_assert_max_num_queries(8):  # the session, the user, permissions, the flow, tasks, audit
            assert as_editor.get(flow_url(flow)).status_code == 200
