"""The database's guard of the audit table (migration 0009 of orgadmin, which created the table):
the database refuses UPDATE, DELETE and TRUNCATE, and lets deletions through only inside `deleting`,
the one path, which retention (`audit.retention.prune`) takes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from audit.models import AuditEntry

# --- The database's guard ------------------------------------------------------------------------
#
# Migration 0009 has the database refuse UPDATE, DELETE and TRUNCATE of the table. Deletions pass
# only inside `deleting`: on PostgreSQL it sets PRUNE_SETTING for its own transaction; on SQLite,
# where a trigger cannot read a session setting, the DELETE trigger asks the connection's
# GUARD_FUNCTION, which answers what `deleting` set on the connection.

PRUNE_SETTING = "orgadmin.audit_prune"
GUARD_FUNCTION = "orgadmin_audit_deleting"


def register_guard(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On each new SQLite connection of the portal's, the function the DELETE trigger asks
    (`connection_created`)."""
    if connection.vendor == "sqlite":
        connection.audit_deleting = False
        connection.connection.create_function(GUARD_FUNCTION, 0, lambda: connection.audit_deleting)


@contextlib.contextmanager
def deleting(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction in which the database lets entries be deleted (never changed): the one
    deliberate path, taken by `prune`. Whatever fails inside rolls the deletions back."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', true)", [PRUNE_SETTING])
            yield
            # Closed again for the rest of a caller's transaction; on failure, the rollback of
            # this block's transaction (or savepoint) undoes the setting with everything else.
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [PRUNE_SETTING])
            return
        connection.ensure_connection()
        connection.audit_deleting = True
        try:
            yield
        finally:
            connection.audit_deleting = False


# Per database: how many of migration 0009's triggers on the table (`%s`) are there and enabled, of how many.
_GUARD_COUNT = {
    "postgresql": (
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = 'orgadmin_audit_append_only'"
        " AND tgenabled <> 'D'",
        1,
    ),
    "sqlite": (
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s"
        " AND name IN ('orgadmin_audit_no_update', 'orgadmin_audit_no_delete')",
        2,
    ),
}


def guard_in_place(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the database's triggers of migration 0009 are there (a table rebuilt by hand, or
    restored without them, would have none)."""
    connection = connections[using]
    if connection.vendor not in _GUARD_COUNT:
        return False
    query, expected = _GUARD_COUNT[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(query, [AuditEntry._meta.db_table])
        return cursor.fetchone()[0] == expected
