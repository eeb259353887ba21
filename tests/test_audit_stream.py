"""The audit stream: each stored entry, once, as one line of JSON for the company's log pipeline."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection, transaction

from audit.models import AuditEntry
from audit.protocol import AuditContext
from audit.store import append_many
from devtools.sandbox import GLOBEX_ID, PARTNER_KEY
from orgadmin.organizations import queries, services
from orgadmin.polytomic.fields import OrganizationInput
from tests.factories import make_user

SECRET = "oidc-secret-STREAMCHECK-4u8i"


@pytest.fixture
def editor_context(db):
    return AuditContext(actor=make_user("ed", role="Editor"), request_id="req-stream-1", client_ip="203.0.113.9")


@pytest.mark.django_db
class StreamTests:
    def test_one_line_per_stored_entry_as_stored_and_no_secret(
        self, editor_context, audit_stream, django_capture_on_commit_callbacks
    ):
        oidc = {"issuer": "https://streamed.example", "client_id": "c", "client_secret": SECRET}
        with django_capture_on_commit_callbacks(execute=True):
            queries.organization_get(context=editor_context, organization_id=uuid.UUID(GLOBEX_ID))
            created = services.organization_create(
                context=editor_context, data=OrganizationInput(name="Streamed", **oidc), form_key="stream-form-key-1"
            )
            services.organization_delete(context=editor_context, organization_id=uuid.UUID(created.id))

        lines = [json.loads(line) for line in audit_stream]
        stored = list(AuditEntry.objects.order_by("id").values())
        assert len(lines) == len(stored) == 5  # the read; the create's and the delete's attempts and outcomes
        for line, entry in zip(lines, stored, strict=True):
            assert line["id"] == entry["id"]
            assert line["entry_hash"] == entry["entry_hash"]
            assert line["previous_hash"] == entry["previous_hash"]
            assert line["request_body"] == entry["request_body"]
            assert line["response_body"] == entry["response_body"]
            assert line["created_at"] == entry["created_at"].isoformat(timespec="microseconds")
        assert [line["phase"] for line in lines] == ["call", "attempt", "outcome", "attempt", "outcome"]
        assert lines[1]["request_body"]["client_secret"] == "[set]"
        assert all("\n" not in line for line in audit_stream)
        for secret in (PARTNER_KEY, SECRET):
            assert secret not in "".join(audit_stream)

    def test_a_seeded_batch_streams_each_entry(self, audit_stream, django_capture_on_commit_callbacks):
        entries = [
            AuditEntry(actor_username="seed", action="organization.list", method="GET", path="/api/organizations",
                       outcome="ok", duration_ms=n)
            for n in range(3)
        ]  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            append_many(entries)
        assert [json.loads(line)["id"] for line in audit_stream] == [entry.id for entry in entries]

    def test_an_entry_rolled_back_with_its_transaction_is_not_streamed(
        self, editor_context, audit_stream, django_capture_on_commit_callbacks
    ):
        if connection.vendor != "sqlite":
            pytest.skip("on PostgreSQL an entry made inside a transaction commits on its own connection")

        def caller_that_rolls_back():
            with transaction.atomic():
                queries.organization_get(context=editor_context, organization_id=uuid.UUID(GLOBEX_ID))
                raise RuntimeError("the caller gives up")

        with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
            caller_that_rolls_back()
        assert (AuditEntry.objects.count(), audit_stream) == (0, [])
