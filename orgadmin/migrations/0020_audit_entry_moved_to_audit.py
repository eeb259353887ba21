"""The audit log's model now belongs to the `audit` app (its migration 0001): it leaves orgadmin's
state, and its table, which keeps its name, its indexes and its triggers, is left as it is."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0019_change_request_outcome_unknown"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEntry")],
            database_operations=[],
        ),
    ]
