"""The portal's client against the sandbox over loopback: the two agree on the contract."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import FOREIGN_ID, GLOBEX_ID, OWNER_ID, PARTNER_KEY
from orgadmin.organizations import queries, services
from orgadmin.polytomic.errors import (
    PolytomicAuthenticationError,
    PolytomicForbidden,
    PolytomicNotFound,
    PolytomicOutcomeUnknown,
    PolytomicUnavailable,
    PolytomicValidationError,
)
from orgadmin.polytomic.fields import OrganizationInput
from tests.support import call_entries


@pytest.fixture
def audit_context(sandbox, settings, db) -> AuditContext:
    settings.POLYTOMIC_API_URL = sandbox.url
    settings.POLYTOMIC_PARTNER_API_KEY = PARTNER_KEY
    return AuditContext(actor=None, actor_label="sandbox-test", request_id="req-sandbox-0001")


def queue_fault(sandbox, method: str, path: str, fault: str) -> None:
    sandbox.sandbox.faults.queue.append({"method": method, "path": path, "fault": fault})


class RoundTripTests:
    def test_create_read_update_delete(self, audit_context, sandbox):
        created = services.organization_create(
            context=audit_context,
            data=OrganizationInput(
                name="Hooli",
                sso_domain="hooli.example",
                issuer="https://hooli.okta.example",
                client_id="hooli-client",
                client_secret="hooli-secret",
            ),
            form_key="rt-create-0001",
        )
        assert created.has_oidc
        assert queries.organization_get(context=audit_context, organization_id=uuid.UUID(created.id)) == created
        assert queries.organization_list(context=audit_context)[0].id == OWNER_ID

        updated = services.organization_update(
            context=audit_context,
            organization_id=uuid.UUID(created.id),
            data=OrganizationInput(name="Hooli XYZ", sso_domain="hooli.example"),
            form_key="rt-update-0001",
        )
        assert (updated.name, updated.issuer) == ("Hooli XYZ", "")
        assert sandbox.sandbox.organizations[created.id].client_secret is None

        services.organization_delete(context=audit_context, organization_id=uuid.UUID(created.id))
        with pytest.raises(PolytomicNotFound):
            queries.organization_get(context=audit_context, organization_id=uuid.UUID(created.id))
        assert [e.action for e in call_entries()] == [
            "organization.create",
            "organization.get",
            "organization.list",
            "organization.update",
            "organization.delete",
            "organization.get",
        ]

    def test_forbidden_organizations(self, audit_context, error_shape):
        with pytest.raises(PolytomicForbidden):
            queries.organization_get(context=audit_context, organization_id=uuid.UUID(FOREIGN_ID))
        with pytest.raises(PolytomicForbidden, match="cannot delete their own owner organization"):
            services.organization_delete(context=audit_context, organization_id=uuid.UUID(OWNER_ID))


@pytest.fixture(params=["with key and metadata", "bare"])
def error_shape(request, sandbox) -> Iterator[str]:
    """The sandbox's errors as it guesses Polytomic words them, or bare {"status", "message"} (as
    the published ApiError allows): the client must read both."""
    sandbox.sandbox.bare_errors = request.param == "bare"
    yield request.param
    sandbox.sandbox.bare_errors = False


class RefusalTests:
    """Polytomic's refusals read the same whether its errors carry `key` and `metadata` or not."""

    def test_an_unknown_key_is_an_authentication_error(self, audit_context, settings, error_shape):
        settings.POLYTOMIC_PARTNER_API_KEY = "not-a-partner-key"
        with pytest.raises(PolytomicAuthenticationError, match=r"Invalid or unknown API key\."):
            queries.organization_list(context=audit_context)
        assert [e.outcome for e in call_entries()] == ["rejected"]

    def test_an_organization_that_is_not_there_is_not_found(self, audit_context, error_shape):
        missing = uuid.uuid4()
        with pytest.raises(PolytomicNotFound, match=r"Organization not found\."):
            queries.organization_get(context=audit_context, organization_id=missing)
        with pytest.raises(PolytomicNotFound):
            services.organization_delete(context=audit_context, organization_id=missing)


class ValidationTests:
    def test_taken_name_lands_on_name(self, audit_context, error_shape):
        with pytest.raises(PolytomicValidationError) as caught:
            services.organization_create(
                context=audit_context, data=OrganizationInput(name="GLOBEX"), form_key="taken-0001"
            )
        assert caught.value.field_errors == {"name": ["An organization with this name already exists."]}
        assert not caught.value.in_flight

    def test_invalid_fields_land_on_their_fields_or_above_the_form(self, audit_context, error_shape):
        with pytest.raises(PolytomicValidationError) as caught:
            services.organization_update(
                context=audit_context,
                organization_id=uuid.UUID(GLOBEX_ID),
                data=OrganizationInput(name="Globex", sso_domain="not a domain", issuer="https://globex.okta.example"),
                form_key="invalid-0001",
            )
        if error_shape == "bare":  # nothing names the fields: Polytomic's message goes above the form
            assert (caught.value.field_errors, caught.value.non_field_errors) == ({}, ["Validation failed."])
        else:
            assert set(caught.value.field_errors) == {"sso_domain", "client_id", "client_secret"}

    # Two threads write audit entries: each must commit on its own, outside a test-wide transaction.
    @pytest.mark.django_db(transaction=True)
    def test_the_sandboxs_in_flight_409_is_told_apart(self, audit_context, sandbox, error_shape):
        key = "in-flight-0001"
        queue_fault(sandbox, "POST", "/api/organizations", "hold")

        def first_submission() -> None:
            services.organization_create(context=audit_context, data=OrganizationInput(name="Slow Co"), form_key=key)
            connection.close()

        first = threading.Thread(target=first_submission)
        first.start()
        assert sandbox.sandbox.held.wait(timeout=10)  # the first is in flight at Polytomic
        with pytest.raises(PolytomicValidationError) as caught:
            services.organization_create(context=audit_context, data=OrganizationInput(name="Slow Co"), form_key=key)
        sandbox.sandbox.release.set()
        first.join(timeout=10)
        assert caught.value.in_flight
        assert caught.value.field_errors == {}
        assert sorted(e.outcome for e in call_entries()) == ["ok", "rejected"]


class LostAnswerTests:
    def test_a_create_whose_answer_was_lost_is_safe_to_submit_again(self, audit_context, sandbox):
        data = OrganizationInput(name="Resubmitted Ltd")
        queue_fault(sandbox, "POST", "/api/organizations", "drop")
        # The answer broke after Polytomic made it: a read finds it made (orgadmin/outcomes.py).
        found = services.organization_create(context=audit_context, data=data, form_key="lost-answer-0001")
        created = services.organization_create(context=audit_context, data=data, form_key="lost-answer-0001")
        assert found.id == created.id
        names = [o.name for o in queries.organization_list(context=audit_context)]
        assert names.count("Resubmitted Ltd") == 1
        assert created.name == "Resubmitted Ltd"
        posts = [r for r in sandbox.sandbox.received if r["method"] == "POST"]
        assert len(posts) == 2  # each submission sent exactly once, never retried by the client


class PoolingTests:
    def test_the_client_keeps_its_connections_alive(self, audit_context, sandbox):
        for _ in range(15):
            queries.organization_list(context=audit_context)
            queries.organization_get(context=audit_context, organization_id=uuid.UUID(GLOBEX_ID))
        # 30 calls, one thread: the read session's single pooled connection carries them all.
        assert sandbox.sandbox.connections == 1


class BoundedAnswerTests:
    """However Polytomic answers, a call ends by its deadline and reads at most its size limit."""

    def test_an_answer_trickled_in_ends_at_the_total_deadline(self, audit_context, sandbox, settings):
        settings.POLYTOMIC_TOTAL_TIMEOUT = 1.0
        settings.POLYTOMIC_READ_TIMEOUT = 5.0  # each byte comes well within it
        # The organization's ~130 bytes, one every 0.1 s: 13 s if nothing stopped it.
        queue_fault(sandbox, "GET", f"/api/organizations/{GLOBEX_ID}", "trickle:100")
        with pytest.raises(PolytomicUnavailable, match="did not finish answering within 1 seconds"):
            queries.organization_get(context=audit_context, organization_id=uuid.UUID(GLOBEX_ID))
        entry = AuditEntry.objects.get()
        assert (entry.outcome, entry.response_status) == ("failed", 200)
        self.assert_cut_short(sandbox)
        # The connection it broke is not reused: the next call goes through.
        assert queries.organization_get(context=audit_context, organization_id=uuid.UUID(GLOBEX_ID)).name == "Globex"

    def test_a_trickled_write_is_of_unknown_outcome_until_a_read_finds_it(self, audit_context, sandbox, settings):
        settings.POLYTOMIC_TOTAL_TIMEOUT = 1.0
        queue_fault(sandbox, "POST", "/api/organizations", "trickle:100")
        with pytest.raises(PolytomicOutcomeUnknown, match="Polytomic may have done this; the portal is checking"):
            services.organization_create(context=audit_context, data=OrganizationInput(name="Slow"), form_key="t" * 32)
        assert "Slow" in [o.name for o in sandbox.sandbox.organizations.values()]
        self.assert_cut_short(sandbox)
        outcome = AuditEntry.objects.get(action="organization.create", phase="outcome")
        assert outcome.outcome == "unknown"
        assert not AuditEntry.objects.filter(action="write.resolve").exists()  # Polytomic is slow: no read at once
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            call_command("resolve_writes", stdout=io.StringIO())
        assert AuditEntry.objects.get(action="write.resolve", attempt_id=outcome.attempt_id).outcome == "ok"

    def assert_cut_short(self, sandbox) -> None:
        """The client hung up on the answer: the sandbox could not send all of it. (It notes how
        far it got when its next write after the hang-up fails.)"""
        assert sandbox.sandbox.trickle_ended.wait(timeout=10)
        [trickle] = sandbox.sandbox.trickles
        assert 0 < trickle["sent"] < trickle["of"], trickle

    def test_an_answer_declared_too_large_is_not_read(self, audit_context, sandbox, settings):
        settings.POLYTOMIC_MAX_RESPONSE_BYTES = 1024 * 1024
        queue_fault(sandbox, "GET", f"/api/organizations/{GLOBEX_ID}", f"huge:{300 * 1024 * 1024}")
        with pytest.raises(PolytomicUnavailable, match=r"larger than the portal accepts \(1 MB\)"):
            queries.organization_get(context=audit_context, organization_id=uuid.UUID(GLOBEX_ID))
        entry = AuditEntry.objects.get()
        assert (entry.outcome, entry.response_status, entry.response_body) == ("failed", 200, "")

    def test_a_large_answer_within_the_limit_is_read(self, audit_context, sandbox, settings):
        settings.POLYTOMIC_MAX_RESPONSE_BYTES = 1024 * 1024
        queue_fault(sandbox, "GET", f"/api/organizations/{GLOBEX_ID}", f"huge:{1024 * 1024 - 10}")
        organization = queries.organization_get(context=audit_context, organization_id=uuid.UUID(GLOBEX_ID))
        assert len(organization.name) > 1_000_000
        assert len(AuditEntry.objects.get().response_body) < 9000
