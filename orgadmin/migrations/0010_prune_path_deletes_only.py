"""The prune path lets DELETE through and nothing else: TRUNCATE, which 0009 let through beside
DELETE, removes every entry at once and records nothing, and `prune_audit` never needs it.

PostgreSQL only (SQLite has no TRUNCATE). The function is replaced in place; the trigger of 0009
calls it by name.
"""

from __future__ import annotations

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION orgadmin_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = {allowed} AND current_setting('orgadmin.audit_prune', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: % on % refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Entries are removed only by the prune_audit command, and never changed.';
END;
$$;
"""


def _replace(allowed: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(FUNCTION.replace("{allowed}", allowed), params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0009_append_only_in_the_database"),
    ]

    operations = [
        migrations.RunPython(_replace("'DELETE'"), _replace("ANY (ARRAY['DELETE', 'TRUNCATE'])"), elidable=False),
    ]
