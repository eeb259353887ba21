"""Tamper evidence, retention and verification of the audit log."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import queries as audit_queries
from audit.models import AuditEntry
from audit.protocol import AuditContext
from audit.store import append, canonical_content, entry_hash
from orgadmin.organizations import queries
from tests.support import guard_lifted, verify_chain


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


def verify(*arguments: str) -> str:
    out = StringIO()
    call_command("verify_audit", *arguments, stdout=out)
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
        assert "Audit log verified: 3 entries, the whole chain, chain intact" in verify()

    def test_an_append_hashes_as_verification_does(self):
        """Its hash must be the one `entry_hash` computes, for any text."""
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
        append(entry)
        assert entry.previous_hash == first.entry_hash
        assert entry.entry_hash == entry_hash(entry)
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert (stored.previous_hash, stored.entry_hash) == (first.entry_hash, entry_hash(stored))
        assert verify_chain() == (2, None)

    def test_calls_to_polytomic_extend_the_chain(self):
        context = AuditContext(actor=None, actor_label="chain-test")
        queries.organization_list(context=context)
        queries.organization_list(context=context)
        assert verify_chain() == (2, None)

    def test_a_changed_entry_is_found(self):
        add_entry()
        target = add_entry()
        add_entry()
        with guard_lifted(), connection.cursor() as cursor:  # behind the model's back, as an intruder would
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
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM orgadmin_auditentry WHERE id = {removed.id}")  # noqa: S608
        checked, broken = verify_chain()
        assert (checked, broken.entry_id) == (1, after.id)
        assert "link to the entry before it is broken" in broken.reason

    def test_the_hash_is_keyed_with_a_key_outside_the_database(self, settings):
        entry = add_entry()
        content = f"{entry.previous_hash}\n{canonical_content(entry)}".encode()
        assert entry.entry_hash == hmac.new(b"test-audit-chain-key-5b7e2c9d", content, hashlib.sha256).hexdigest()
        assert settings.AUDIT_CHAIN_KEY == "test-audit-chain-key-5b7e2c9d"

    @pytest.mark.parametrize("rehash", ["sha256", "another key"])
    def test_a_chain_rewritten_without_the_key_is_found(self, rehash):
        """An intruder with the database changes an entry and re-chains every hash after it, with
        plain SHA-256 (the chain before it was keyed) or a key of their own: it does not verify."""
        add_entry()
        target = add_entry()
        add_entry()
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE orgadmin_auditentry SET outcome = 'failed' WHERE id = {target.id}")  # noqa: S608
        previous = ""
        for entry in AuditEntry.objects.order_by("id"):
            content = f"{previous}\n{canonical_content(entry)}".encode()
            if rehash == "sha256":
                forged = hashlib.sha256(content).hexdigest()
            else:
                forged = hmac.new(b"intruder-key", content, hashlib.sha256).hexdigest()
            with guard_lifted(), connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE orgadmin_auditentry SET previous_hash = %s, entry_hash = %s WHERE id = %s",
                    [previous, forged, entry.id],
                )
            previous = forged
        checked, broken = verify_chain()
        assert (checked, broken.entry_id) == (0, AuditEntry.objects.order_by("id").first().id)

    def test_removing_the_newest_entries_is_found_against_an_anchor(self):
        add_entry()
        anchor = add_entry()
        add_entry()
        printed = verify()
        checkpoint = AuditEntry.objects.order_by("-id").first()  # the head is the run's own checkpoint
        assert checkpoint.action == "audit.checkpoint"
        assert f"Head: {checkpoint.id}:{checkpoint.entry_hash}" in printed
        assert "verified" in verify(f"--anchor={anchor.id}:{anchor.entry_hash}")
        kept = AuditEntry.objects.order_by("-id").first()  # that run's checkpoint: its head, kept outside
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM orgadmin_auditentry WHERE id >= {anchor.id}")  # noqa: S608
        assert verify_chain()[1] is None  # a shorter chain is still a chain...
        with pytest.raises(CommandError, match=f"anchor entry {kept.id} is no longer in the audit log"):
            verify()  # ...but not the one the last run kept the head of
        with pytest.raises(CommandError, match=f"anchor entry {anchor.id} is no longer in the audit log"):
            verify(f"--anchor={anchor.id}:{anchor.entry_hash}")  # ...nor the one that was seen

    def test_an_anchor_pruned_since_is_not_a_break(self):
        anchor = add_entry(created_at=timezone.now() - timedelta(days=50))
        add_entry()
        call_command("prune_audit", "--older-than", "30")
        assert "pruned since" in verify(f"--anchor={anchor.id}:{anchor.entry_hash}")

    @pytest.mark.parametrize("anchor", ["12", "x:y", "1:" + "g" * 64])
    def test_a_malformed_anchor_is_refused(self, anchor):
        with pytest.raises(CommandError, match="--anchor takes ID:HASH"):
            verify(f"--anchor={anchor}")

    def test_the_head_goes_to_the_log(self, caplog):
        add_entry()
        with caplog.at_level(logging.INFO, logger="orgadmin.audit"):
            verify()
        head = AuditEntry.objects.order_by("-id").first()
        assert f"Audit log head {head.id}:{head.entry_hash}" in caplog.text

    def test_without_a_checkpoint_the_head_is_the_newest_entry(self, caplog):
        newest = add_entry()
        assert f"Head: {newest.id}:{newest.entry_hash}" in verify("--no-checkpoint")
        assert AuditEntry.objects.count() == 1

    def test_removing_the_oldest_entries_by_hand_is_found(self):
        oldest = add_entry()
        add_entry()
        with guard_lifted(), connection.cursor() as cursor:
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


@pytest.mark.django_db
class CallersTransactionTests:
    def test_a_failed_append_inside_a_transaction_leaves_it_usable(self):
        """Inside a transaction of the caller's, an append runs in a savepoint: its failure must
        not abort the caller's transaction (PostgreSQL refuses every later statement then)."""
        add_entry()
        with pytest.raises(IntegrityError):
            add_entry(response_status=-1)  # the database's own check refuses it
        assert AuditEntry.objects.count() == 1
        add_entry()
        assert verify_chain() == (2, None)


class OwnTransactionTests:
    @pytest.mark.django_db(transaction=True)
    def test_outside_a_transaction_an_append_is_two_messages_on_postgresql(self):
        """As when serving: lock and read the last hash, then insert and commit, and it verifies."""
        first = add_entry()
        with CaptureQueriesContext(connection) as queries:
            second = add_entry(organization_name='Zürich 東京 🚀 "quoted" \\ back')
        if connection.vendor == "postgresql":
            assert len(queries) == 2
        assert AuditEntry.objects.get(pk=second.pk).previous_hash == first.entry_hash
        assert verify_chain() == (2, None)

    @pytest.mark.django_db(transaction=True)
    def test_an_append_that_fails_halfway_releases_the_chain(self, monkeypatch):
        """On PostgreSQL an append outside any transaction is two messages of its own transaction:
        a failure between them rolls it back, and the chain lock with it."""
        from audit import store

        add_entry()

        def fail(entry):
            raise RuntimeError("hashing failed")

        monkeypatch.setattr(store, "entry_hash", fail)
        with pytest.raises(RuntimeError, match="hashing failed"):
            add_entry()
        monkeypatch.undo()
        assert not connection.in_atomic_block
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
                assert cursor.fetchone()[0] == 0
        done = threading.Event()

        def another_writer() -> None:  # another connection, which would wait on a held lock
            add_entry(actor_username="other")
            connection.close()
            done.set()

        threading.Thread(target=another_writer, daemon=True).start()
        assert done.wait(timeout=10)
        add_entry()
        assert verify_chain() == (3, None)


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
        assert set(AuditEntry.objects.values_list("outcome", flat=True)) == {"ok", "rejected", "failed", "unknown"}
        assert verify_chain() == (301, None)
        # A write is its attempt and its outcome, one after the other, as the portal records them.
        outcomes = list(AuditEntry.objects.filter(phase="outcome"))
        attempts = AuditEntry.objects.in_bulk([o.attempt_id for o in outcomes])
        assert outcomes
        assert all(attempts[o.attempt_id].id == o.id - 1 for o in outcomes)
        assert all(attempts[o.attempt_id].phase == "attempt" for o in outcomes)
        assert AuditEntry.objects.filter(phase="attempt").count() == len(outcomes)
        assert not AuditEntry.objects.filter(phase="call").exclude(method="GET").exists()

    def test_a_seeded_log_is_planned_as_a_live_one_so_an_actors_page_is_read_in_order(self):
        """A live PostgreSQL log is analyzed by autovacuum as it grows; a seeded one must be too, or
        the planner takes it for the empty table it was and sorts an actor's every entry for a
        page (the benchmark's "by actor" row at 20,000 entries: 2.6 times the page at 1,000)."""
        call_command("seed_audit", "--count", "3000", "--organizations", "6", "--actors", "1", stdout=StringIO())
        plan = audit_queries.audit_rows(actor="staff000").entries.order_by(*audit_queries.NEWEST_FIRST)[:51].explain()
        sorted_whole = "Sort" if connection.vendor == "postgresql" else "TEMP B-TREE"
        assert sorted_whole not in plan, plan

    def test_seeded_writes_may_be_left_without_outcome(self):
        call_command("seed_audit", "--count", "100", "--unresolved", "40", stdout=StringIO())
        unresolved = AuditEntry.objects.filter(phase="attempt").exclude(
            id__in=AuditEntry.objects.filter(phase="outcome").values("attempt_id")
        )
        first_id = AuditEntry.objects.order_by("id").values_list("id", flat=True).first()
        assert unresolved.exists()
        assert all(entry.id < first_id + 40 for entry in unresolved)
        assert verify_chain() == (100, None)
