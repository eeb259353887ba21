"""Tamper evidence, retention and verification of the audit log."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orgadmin import services
from orgadmin.audit import AuditContext, append, entry_hash, verify_chain
from orgadmin.models import AuditEntry


def add_entry(created_at=None, **fields) -> AuditEntry:
    entry = AuditEntry(
        actor_username=fields.pop("actor_username", "ed"),
        action=fields.pop("action", AuditEntry.Action.LIST),
        method="GET",
        path="/api/organizations",
        outcome=AuditEntry.Outcome.OK,
        duration_ms=5,
        created_at=created_at or timezone.now(),
        **fields,
    )
    append(entry)
    return entry


def verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class ChainTests:
    def test_each_entry_links_to_the_one_before(self):
        first, second, third = add_entry(), add_entry(), add_entry()
        assert first.previous_hash == ""
        assert second.previous_hash == first.entry_hash
        assert third.previous_hash == second.entry_hash
        assert len({first.entry_hash, second.entry_hash, third.entry_hash}) == 3
        assert verify_chain() == (3, None)
        assert "Audit log verified: 3 entries, chain intact" in verify()

    def test_an_append_hashes_as_verification_does_and_is_one_message_on_postgresql(self):
        """On PostgreSQL the server chains and hashes the entry (one round trip instead of five):
        its hash must be the one `entry_hash` computes, for any text, or verification would fail."""
        first = add_entry()
        entry = AuditEntry(
            actor_username="zoë",
            action=AuditEntry.Action.UPDATE,
            method="PUT",
            path="/api/organizations/x",
            organization_name='Zürich 東京 🚀 "quoted" \\ back',
            request_body={"name": "Zürich 東京 🚀", "client_secret": "[set]", "nested": ["\n", None]},
            outcome=AuditEntry.Outcome.OK,
            duration_ms=7,
            client_ip="2001:db8::1",
        )
        with CaptureQueriesContext(connection) as queries:
            append(entry)
        assert entry.previous_hash == first.entry_hash
        assert entry.entry_hash == entry_hash(entry)
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert (stored.previous_hash, stored.entry_hash) == (first.entry_hash, entry_hash(stored))
        if connection.vendor == "postgresql":
            assert len(queries) == 1
        assert verify_chain() == (2, None)

    def test_calls_to_polytomic_extend_the_chain(self):
        context = AuditContext(actor=None, actor_label="chain-test")
        services.organization_list(context=context)
        services.organization_list(context=context)
        assert verify_chain() == (2, None)

    def test_a_changed_entry_is_found(self):
        add_entry()
        target = add_entry()
        add_entry()
        with connection.cursor() as cursor:  # behind the model's back, as an intruder would
            cursor.execute(f"UPDATE orgadmin_auditentry SET outcome = 'failed' WHERE id = {target.id}")  # noqa: S608
        checked, broken = verify_chain()
        assert (checked, broken.entry_id) == (1, target.id)
        assert "content does not match its hash" in broken.reason
        with pytest.raises(CommandError, match=f"chain broken at entry {target.id}"):
            verify()

    def test_a_removed_entry_is_found(self):
        add_entry()
        removed = add_entry()
        after = add_entry()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM orgadmin_auditentry WHERE id = {removed.id}")  # noqa: S608
        checked, broken = verify_chain()
        assert (checked, broken.entry_id) == (1, after.id)
        assert "link to the entry before it is broken" in broken.reason

    def test_removing_the_oldest_entries_by_hand_is_found(self):
        oldest = add_entry()
        add_entry()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM orgadmin_auditentry WHERE id = {oldest.id}")  # noqa: S608
        assert "not by prune_audit" in verify_chain()[1].reason


@pytest.mark.django_db
class PruneTests:
    def test_prune_deletes_old_entries_in_batches_and_records_itself(self, capsys):
        now = timezone.now()
        for days in (100, 90, 80):
            add_entry(created_at=now - timedelta(days=days))
        kept = [add_entry(created_at=now - timedelta(days=days)) for days in (10, 1)]
        call_command("prune_audit", "--older-than", "30", "--batch-size", "2")
        assert "Deleted 3 audit entries older than" in capsys.readouterr().out
        remaining = list(AuditEntry.objects.order_by("id"))
        assert remaining[:2] == kept
        record = remaining[-1]
        assert (record.action, record.actor_username) == ("audit.prune", "system:prune_audit")
        assert record.request_body["deleted"] == 3
        assert verify_chain() == (3, None)

    def test_dry_run_deletes_nothing(self, capsys):
        add_entry(created_at=timezone.now() - timedelta(days=400))
        call_command("prune_audit", "--older-than", "365", "--dry-run")
        assert "Would delete 1 audit entries" in capsys.readouterr().out
        assert AuditEntry.objects.filter(action="organization.list").count() == 1
        assert verify_chain()[1] is None

    def test_pruning_everything_still_verifies(self):
        add_entry(created_at=timezone.now() - timedelta(days=50))
        call_command("prune_audit", "--older-than", "7")
        call_command("prune_audit", "--older-than", "7")
        assert AuditEntry.objects.filter(action="organization.list").count() == 0
        assert verify_chain()[1] is None

    def test_a_nonsense_age_is_refused(self):
        with pytest.raises(CommandError, match="at least 1 day"):
            call_command("prune_audit", "--older-than", "0")


class ConcurrentWriterTests:
    @pytest.mark.django_db(transaction=True)
    def test_the_chain_stays_linear_with_concurrent_writers(self):
        """Eight threads, each with its own database connection, append at once."""
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for _ in range(15):
                    add_entry(actor_username=threading.current_thread().name)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=writer, name=f"writer-{n}") for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert AuditEntry.objects.count() == 120
        assert verify_chain() == (120, None)
        assert AuditEntry.objects.values("previous_hash").distinct().count() == 120  # no fork


@pytest.mark.django_db
class SeedTests:
    def test_seeded_entries_are_varied_and_chained(self, capsys):
        add_entry()  # the seed continues an existing chain
        call_command("seed_audit", "--count", "300", "--batch-size", "70", "--organizations", "20", "--actors", "5")
        assert "Added 300 audit entries" in capsys.readouterr().out
        assert AuditEntry.objects.count() == 301
        assert AuditEntry.objects.values("action").distinct().count() == 5
        assert AuditEntry.objects.values("actor_username").distinct().count() == 6
        assert set(AuditEntry.objects.values_list("outcome", flat=True)) == {"ok", "rejected", "failed"}
        assert verify_chain() == (301, None)
