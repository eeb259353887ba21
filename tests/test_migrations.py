"""Migrations that change data: run from the state before them, on both databases."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.guard import guard_in_place
from audit.models import AuditEntry, action_choices
from audit.store import append, canonical_content
from tests.support import verify_chain

BEFORE_KEYING = ("orgadmin", "0005_audit_page_order_indexes")
# Orgadmin's last migration before the move, and none of audit's.
BEFORE_THE_MOVE = [("orgadmin", "0019_change_request_outcome_unknown"), ("audit", None)]
KEYING = ("orgadmin", "0006_keyed_chain")
BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def before_keying(transactional_db):
    """The database as 0005 left it; the latest schema again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE_KEYING])
    yield executor.loader.project_state([BEFORE_KEYING]).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def unkeyed_chain(apps, count: int) -> list:
    """Entries chained as before 0006: plain SHA-256 over the previous hash and the content."""
    Entry = apps.get_model("orgadmin", "AuditEntry")
    previous, entries = "", []
    for n in range(count):
        entry = Entry(
            actor_username=f"ed{n}", action="organization.get", method="GET", path=f"/api/organizations/{n}",
            outcome="ok", duration_ms=n, previous_hash=previous,
        )  # fmt: skip
        entry.entry_hash = previous = hashlib.sha256(f"{previous}\n{canonical_content(entry)}".encode()).hexdigest()
        entry.save()
        entries.append(entry)
    return entries


def key_the_chain() -> None:
    """Runs 0006, then the later migrations, whose fields the entries written before them hash without."""
    executor = MigrationExecutor(connection)
    executor.migrate([KEYING])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


class KeyedChainMigrationTests:
    def test_an_unkeyed_chain_is_checked_keyed_and_the_step_recorded(self, before_keying):
        unkeyed = unkeyed_chain(before_keying, 5)
        key_the_chain()
        assert verify_chain() == (6, None)
        record = AuditEntry.objects.order_by("-id").first()
        assert record.action == "audit.rekey"
        assert record.request_body == {"entries": 5, "unkeyed_chain_intact": True, "first_break_id": None}
        assert [e.entry_hash for e in AuditEntry.objects.order_by("id")[:5]] != [e.entry_hash for e in unkeyed]

    def test_a_break_in_the_unkeyed_chain_is_recorded_not_hidden(self, before_keying):
        entries = unkeyed_chain(before_keying, 4)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE orgadmin_auditentry SET outcome = 'failed' WHERE id = %s", [entries[2].id])
        key_the_chain()
        assert verify_chain() == (5, None)
        record = AuditEntry.objects.get(action="audit.rekey")
        assert record.request_body == {"entries": 4, "unkeyed_chain_intact": False, "first_break_id": entries[2].id}

    def test_an_empty_log_stays_empty(self, before_keying):
        key_the_chain()
        assert AuditEntry.objects.count() == 0


class MigrationCodeTests:
    def test_a_migration_imports_of_the_portal_only_what_its_models_reference(self):
        """A migration means the same forever: it copies the code it runs (0006's chain) rather than
        import it from a module that will change. The models modules are the exception, for the
        field classes and the choices a migration names by reference."""
        imported = set()
        for path in sorted(BASE_DIR.glob("*/migrations/0*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {(path.name, alias.name) for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add((path.name, node.module))
        assert ("0006_keyed_chain.py", "hashlib") in imported  # the walk sees the imports
        portal = [(name, module) for name, module in imported if module.split(".")[0] in ("audit", "orgadmin", "staff")]
        assert sorted(entry for entry in portal if not entry[1].endswith(".models")) == []


class CacheTableMigrationTests:
    """The cache's table (the sign-in protections' shared state) is made by `migrate`, not by hand."""

    def test_migrate_makes_the_cache_table_and_the_cache_keeps_its_entries_there(self, transactional_db):
        executor = MigrationExecutor(connection)
        executor.migrate([("staff", "0001_staff_sessions_permission")])
        assert "portal_cache" not in connection.introspection.table_names()
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        assert "portal_cache" in connection.introspection.table_names()
        assert cache.add("allauth.mfa.totp.used?user=1&code=123456", "y", timeout=30)
        assert not cache.add("allauth.mfa.totp.used?user=1&code=123456", "y", timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM portal_cache")
            assert cursor.fetchone()[0] == 1


@pytest.fixture
def before_the_move(transactional_db):
    """The database as it was while orgadmin held the audit log's model; the latest schema again afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_THE_MOVE)
    yield executor.loader.project_state(BEFORE_THE_MOVE[:1]).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


class AuditModelMoveTests:
    """The model moved from orgadmin to audit by Django's state alone: an existing database keeps its
    table, its entries, its chain and its guard."""

    def test_an_existing_log_is_kept_whole_and_still_guarded(self, before_the_move):
        ContentType = before_the_move.get_model("contenttypes", "ContentType")
        # As a database from before the move has it: the model's content type under orgadmin alone.
        ContentType.objects.filter(app_label="audit", model="auditentry").delete()
        ContentType.objects.get_or_create(app_label="orgadmin", model="auditentry")
        append(AuditEntry(actor_username="ed", action="organization.get", method="GET", path="/x", outcome="ok",
                          duration_ms=1))  # fmt: skip
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        assert AuditEntry._meta.db_table == "orgadmin_auditentry"
        assert list(AuditEntry.objects.values_list("actor_username", flat=True)) == ["ed"]
        assert verify_chain() == (1, None)
        assert guard_in_place()
        moved = ContentType.objects.filter(model="auditentry").values_list("app_label", flat=True)
        assert list(moved) == ["audit"]

    def test_the_move_back_leaves_the_table_too(self, before_the_move):
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE_THE_MOVE)
        assert "orgadmin_auditentry" in connection.introspection.table_names()
        assert guard_in_place()

    def test_an_action_is_added_without_a_migration(self, transactional_db):
        """The migrations name the action's choices by reference, not as a list a new action changes."""
        state = MigrationExecutor(connection).loader.project_state()
        field = state.apps.get_model("audit", "AuditEntry")._meta.get_field("action")
        assert field.deconstruct()[3]["choices"] is action_choices
