"""A change request its requester withdrew while it waited (`requesting.withdraw`)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0020_audit_entry_moved_to_audit"),
    ]

    operations = [
        migrations.AlterField(
            model_name="changerequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Waiting for approval"),
                    ("executing", "Approved, being sent"),
                    ("unknown", "Sent — outcome not known"),
                    ("executed", "Approved and done"),
                    ("failed", "Approved, Polytomic failed"),
                    ("rejected", "Rejected"),
                    ("expired", "Expired"),
                    ("void", "Void: the organization changed meanwhile"),
                    ("withdrawn", "Withdrawn by its requester"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
    ]
