"""The database itself refuses to change or remove audit entries.

PostgreSQL: one statement-level trigger refuses UPDATE, DELETE and TRUNCATE of the table, unless
the transaction has set `orgadmin.audit_prune` to `on`, which only `audit.guard.deleting()` does
(for `prune_audit`); UPDATE is refused even then. SQLite: row triggers refuse UPDATE always, and
DELETE unless the connection's `orgadmin_audit_deleting()` function, which the portal registers
on each of its connections (`audit.guard.register_guard`), answers true. Another program's
connection has no such function, so its DELETE fails too.

The SQL is written out here, as it was when this migration was written: a later change to the
guard is a later migration.
"""

from __future__ import annotations

from django.db import migrations

TABLE = "orgadmin_auditentry"

POSTGRESQL = f"""
CREATE FUNCTION orgadmin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('orgadmin.audit_prune', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Entries are removed only by the prune_audit command, and never changed.';
END;
$$;
CREATE TRIGGER orgadmin_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION orgadmin_audit_append_only();
"""
POSTGRESQL_REVERSE = f"""
DROP TRIGGER IF EXISTS orgadmin_audit_append_only ON {TABLE};
DROP FUNCTION IF EXISTS orgadmin_audit_append_only();
"""

SQLITE = [
    f"""CREATE TRIGGER orgadmin_audit_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: UPDATE refused.'); END""",
    f"""CREATE TRIGGER orgadmin_audit_no_delete BEFORE DELETE ON {TABLE}
    WHEN NOT orgadmin_audit_deleting()
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: DELETE refused (prune_audit only).'); END""",
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS orgadmin_audit_no_update", "DROP TRIGGER IF EXISTS orgadmin_audit_no_delete"]


def _run(statements: dict[str, str | list[str]]):
    def run(apps, schema_editor) -> None:
        sql = statements.get(schema_editor.connection.vendor)
        for statement in [sql] if isinstance(sql, str) else sql or []:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0008_write_ahead"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
            elidable=False,
        ),
    ]
