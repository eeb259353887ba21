"""An audit that cannot be skipped: a write is not sent unless its attempt is recorded first; a
read's answer is not shown unless its entry is; and the database itself refuses to change or
remove entries, but for `prune_audit`'s one path.

The refusals are the database's own, made here with the tests' own triggers, as a full disk, a
lost connection or a revoked grant would make them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit import guard
from audit.models import AuditEntry
from audit.store import append
from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.support import hidden_field
from tests.support import audit_refuses_inserts, guard_lifted, verify_chain

NOTHING_SENT = "The audit log is unavailable, so nothing was sent to Polytomic."
WRITES = ("POST", "PUT", "DELETE")


def writes_received(sandbox) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in sandbox.sandbox.received if r["method"] in WRITES]


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


def create_form(client) -> dict[str, str]:
    page = client.get(reverse("orgadmin:organization-create")).content.decode()
    return {"name": "Refused Co", "sso_domain": "refused.example", "form_key": hidden_field(page, "form_key")}


def edit_form(client) -> dict[str, str]:
    page = client.get(reverse("orgadmin:organization-edit", args=[ACME_ID])).content.decode()
    return {
        "name": "Acme Renamed While Refused",
        "sso_domain": "acme.example",
        "sso_org_id": "org_01ACME",
        "form_key": hidden_field(page, "form_key"),
        "opened": hidden_field(page, "opened"),
    }


def submit(client, operation: str, data: dict[str, str]):
    url = {
        "create": reverse("orgadmin:organization-create"),
        "update": reverse("orgadmin:organization-edit", args=[ACME_ID]),
        "delete": reverse("orgadmin:organization-delete", args=[ACME_ID]),
    }[operation]
    return client.post(url, data)


FORMS = {
    "create": (create_form, "Refused Co"),
    "update": (edit_form, "Acme Renamed While Refused"),
    "delete": (lambda client: {"confirm_name": "Acme Corporation"}, "Acme Corporation"),
}


@pytest.mark.django_db
class FailClosedTests:
    @pytest.mark.parametrize("operation", FORMS)
    def test_a_write_whose_attempt_cannot_be_recorded_is_not_sent(self, as_admin, sandbox, caplog, operation):
        make_form, typed = FORMS[operation]
        data = make_form(as_admin)
        before = AuditEntry.objects.count()
        with audit_refuses_inserts(phase="attempt"), caplog.at_level(logging.ERROR):
            response = submit(as_admin, operation, data)
        page = response.content.decode()
        assert response.status_code == 200
        assert NOTHING_SENT in page
        assert f'value="{typed}"' in page  # what was typed is kept
        assert writes_received(sandbox) == []
        # The reads before it are recorded; nothing of the write is.
        recorded = {e.phase for e in AuditEntry.objects.order_by("id")[before:]}
        assert recorded == (set() if operation == "create" else {"call"})
        security = [r for r in caplog.records if r.name == "orgadmin.security"]
        assert len(security) == 1
        assert "could not record the attempt" in security[0].getMessage()
        assert "Traceback" not in page

    def test_htmx_gets_the_form_back_to_swap_in(self, as_admin, sandbox):
        data = create_form(as_admin)
        with audit_refuses_inserts(phase="attempt"):
            response = as_admin.post(reverse("orgadmin:organization-create"), data, HTTP_HX_REQUEST="true")
        page = response.content.decode()
        assert response.status_code == 200  # swapped in as any page is
        assert NOTHING_SENT in page
        assert 'value="Refused Co"' in page
        assert "<html" not in page  # the form alone
        assert writes_received(sandbox) == []

    @pytest.mark.parametrize("operation", FORMS)
    def test_with_the_log_refusing_every_entry_no_write_leaves(self, as_admin, sandbox, caplog, operation):
        """Update and delete read the organization first: that read is answered, but its answer
        is not used, as no record covers it, and the write is not sent."""
        make_form, typed = FORMS[operation]
        data = make_form(as_admin)
        received = len(sandbox.sandbox.received)
        before = AuditEntry.objects.count()
        with audit_refuses_inserts(), caplog.at_level(logging.ERROR):
            response = submit(as_admin, operation, data)
        page = response.content.decode()
        assert response.status_code == 200
        assert "the audit log is unavailable" in page.lower()
        assert writes_received(sandbox) == []
        reads = [r["method"] for r in sandbox.sandbox.received[received:]]
        assert reads == ([] if operation == "create" else ["GET"])
        assert AuditEntry.objects.count() == before
        assert any(r.name == "orgadmin.security" for r in caplog.records)
        assert NOTHING_SENT in page
        assert f'value="{typed}"' in page  # kept on the form, or to be sent again as it was

    @pytest.mark.parametrize(
        ("url", "secret_of_the_page"),
        [
            (reverse("orgadmin:organization-detail", args=[GLOBEX_ID]), "globex.okta.example"),
            (reverse("orgadmin:organization-list"), "Acme Corporation"),
        ],
    )
    def test_a_read_whose_entry_cannot_be_recorded_shows_no_data(self, as_admin, url, secret_of_the_page):
        with audit_refuses_inserts():
            response = as_admin.get(url)
        page = response.content.decode()
        assert response.status_code == 200
        assert "The audit log is unavailable, so Polytomic&#x27;s answer is not shown." in page
        assert secret_of_the_page not in page
        assert as_admin.get(url).status_code == 200  # and once the log records again, it is shown

    def test_a_write_whose_outcome_cannot_be_recorded_stands_as_unknown(self, as_admin, sandbox, caplog):
        data = create_form(as_admin)
        with audit_refuses_inserts(phase="outcome"), caplog.at_level(logging.ERROR):
            response = submit(as_admin, "create", data)
        # Polytomic did it: the operator is told so (hiding it would invite a repeat) ...
        assert response.status_code == 302
        assert writes_received(sandbox) == ["POST /api/organizations"]
        assert "could not record the outcome" in caplog.text
        # ... and the log shows it was attempted, the outcome unknown.
        [attempt] = AuditEntry.objects.filter(phase="attempt")
        assert attempt.idempotency_key == sandbox.sandbox.received[-1]["headers"]["idempotency-key"]
        page = as_admin.get(reverse("orgadmin:audit-list"), {"outcome": "unknown"}).content.decode()
        assert f'href="/audit/{attempt.id}/"' in page
        assert verify_chain()[1] is None


def guarded_statements() -> list[str]:
    statements = ["UPDATE orgadmin_auditentry SET outcome = 'failed'", "DELETE FROM orgadmin_auditentry"]
    return statements + (["TRUNCATE orgadmin_auditentry"] if connection.vendor == "postgresql" else [])


def add_entries(count: int, *, days_ago: int = 0) -> list[AuditEntry]:
    entries = []
    for n in range(count):
        entry = AuditEntry(
            actor_username="ed", action="organization.list", method="GET", path="/api/organizations", outcome="ok",
            duration_ms=n, created_at=timezone.now() - timedelta(days=days_ago),
        )  # fmt: skip
        append(entry)
        entries.append(entry)
    return entries


@pytest.mark.django_db
class AppendOnlyInTheDatabaseTests:
    def test_the_portals_own_connection_cannot_change_or_remove_entries(self):
        add_entries(2)
        for statement in guarded_statements():
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
        assert sorted(AuditEntry.objects.values_list("outcome", flat=True)) == ["ok", "ok"]

    def test_the_prune_path_lets_deletions_through_and_never_changes(self):
        add_entries(2)
        for statement in guarded_statements():  # DELETE alone passes there: never UPDATE nor TRUNCATE
            if statement.startswith("DELETE"):
                continue
            with pytest.raises(DatabaseError, match="append-only"), guard.deleting(), connection.cursor() as c:
                c.execute(statement)
        with guard.deleting(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry")
        assert AuditEntry.objects.count() == 0
        add_entries(1)  # and the path is closed again once its transaction is over
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry")
        assert AuditEntry.objects.count() == 1

    def test_the_guard_is_reported_in_place(self):
        assert guard.guard_in_place()
        with guard_lifted():
            assert not guard.guard_in_place()
        assert guard.guard_in_place()


@pytest.mark.django_db(transaction=True)
class RawConnectionTests:
    """Another program's connection, as an operator's shell or an intruder's would be."""

    @contextlib.contextmanager
    def raw_connection(self):
        settings = connection.settings_dict
        if connection.vendor == "postgresql":
            import psycopg

            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            raw = psycopg.connect(**params, autocommit=True)
            refusal = psycopg.errors.InsufficientPrivilege
        else:
            raw = sqlite3.connect(settings["NAME"], isolation_level=None)
            refusal = sqlite3.DatabaseError  # the trigger's ABORT, or its function missing there
        try:
            yield raw, refusal
        finally:
            raw.close()

    def test_update_delete_and_truncate_are_refused_and_prune_still_works(self):
        entries = add_entries(2, days_ago=60) + add_entries(2)
        with self.raw_connection() as (raw, refusal):
            for statement in guarded_statements():
                with pytest.raises(refusal):
                    raw.execute(statement)
        assert [(e.id, e.outcome) for e in AuditEntry.objects.order_by("id")] == [(e.id, "ok") for e in entries]
        assert verify_chain() == (4, None)

        call_command("prune_audit", "--older-than", "30", stdout=io.StringIO())
        remaining = list(AuditEntry.objects.order_by("id"))
        assert [e.id for e in remaining[:2]] == [e.id for e in entries[2:]]
        assert (remaining[-1].action, remaining[-1].request_body["deleted"]) == ("audit.prune", 2)
        assert verify_chain() == (3, None)
        with self.raw_connection() as (raw, refusal), pytest.raises(refusal):
            raw.execute("DELETE FROM orgadmin_auditentry")  # the path closed behind the prune
        assert AuditEntry.objects.count() == 3
