"""The audit log's model, moved here from orgadmin with its table: a change of Django's state alone.

The table keeps its name (`orgadmin_auditentry`), its columns, its indexes and the triggers of
orgadmin's migrations 0009 and 0010; nothing is done to it. Orgadmin's migration 0020 takes the
model out of orgadmin's state after this one has put it here. The content type of an existing
database follows the model, so that the admin's history of the entries stays theirs.
"""

from __future__ import annotations

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import audit.models


def move_content_type(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not content_types.filter(app_label="audit", model="auditentry").exists():
        content_types.filter(app_label="orgadmin", model="auditentry").update(app_label="audit")


def move_content_type_back(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not content_types.filter(app_label="orgadmin", model="auditentry").exists():
        content_types.filter(app_label="audit", model="auditentry").update(app_label="orgadmin")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        # The table and all it holds are orgadmin's migrations' work, up to the last that changed it.
        ("orgadmin", "0019_change_request_outcome_unknown"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "created_at",
                            models.DateTimeField(
                                default=django.utils.timezone.now, help_text="When the call was made (UTC)."
                            ),
                        ),
                        (
                            "actor_username",
                            models.CharField(help_text="The actor's username when the call was made.", max_length=150),
                        ),
                        ("action", models.CharField(choices=audit.models.action_choices, max_length=32)),
                        ("method", models.CharField(max_length=8)),
                        (
                            "path",
                            models.CharField(
                                help_text="Path of the API call, without host or credentials.", max_length=500
                            ),
                        ),
                        ("organization_id", models.CharField(blank=True, max_length=64)),
                        ("organization_name", models.CharField(blank=True, max_length=255)),
                        (
                            "request_body",
                            models.JSONField(
                                blank=True, help_text="Masked: the client secret only as [set].", null=True
                            ),
                        ),
                        (
                            "response_status",
                            models.PositiveSmallIntegerField(
                                blank=True, help_text="Empty when no answer came.", null=True
                            ),
                        ),
                        ("response_body", models.TextField(blank=True, help_text="Masked and cut to a few kilobytes.")),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("ok", "OK"),
                                    ("rejected", "Rejected"),
                                    ("failed", "Failed"),
                                    ("unknown", "Unknown"),
                                ],
                                max_length=8,
                            ),
                        ),
                        ("error_message", models.TextField(blank=True)),
                        ("duration_ms", models.PositiveIntegerField()),
                        (
                            "attempts",
                            models.PositiveSmallIntegerField(default=1, help_text="HTTP attempts, retries included."),
                        ),
                        ("idempotency_key", models.CharField(blank=True, max_length=255)),
                        (
                            "request_id",
                            models.CharField(
                                blank=True, help_text="The portal's request id (X-Request-ID).", max_length=64
                            ),
                        ),
                        (
                            "api_version",
                            models.CharField(blank=True, help_text="The API version that answered.", max_length=32),
                        ),
                        ("upstream_request_id", models.CharField(blank=True, max_length=128)),
                        ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, max_length=512)),
                        (
                            "phase",
                            models.CharField(
                                choices=[("call", "Call"), ("attempt", "Attempt"), ("outcome", "Outcome")],
                                default="call",
                                max_length=8,
                            ),
                        ),
                        ("attempt_id", models.BigIntegerField(blank=True, null=True)),
                        ("change_request_id", models.BigIntegerField(blank=True, null=True)),
                        ("correlation_id", models.UUIDField(blank=True, null=True)),
                        (
                            "actor_signin",
                            models.CharField(
                                blank=True,
                                help_text="How the actor signed in: idp:<provider>, or password+<second factor> (staff/signin.py).",
                                max_length=64,
                                null=True,
                            ),
                        ),
                        ("previous_hash", models.CharField(blank=True, max_length=64)),
                        ("entry_hash", models.CharField(blank=True, max_length=64)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                db_constraint=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "audit entries",
                        "db_table": "orgadmin_auditentry",
                        "ordering": ["-created_at", "-id"],
                        "default_permissions": (),
                        "indexes": [
                            models.Index(fields=["created_at", "id"], name="audit_time"),
                            models.Index(fields=["organization_id", "created_at", "id"], name="audit_org_time"),
                            models.Index(
                                fields=["organization_id", "phase", "created_at", "id"], name="audit_org_phase_time"
                            ),
                            models.Index(fields=["actor", "created_at", "id"], name="audit_actor_time"),
                            models.Index(fields=["actor_username", "created_at", "id"], name="audit_actor_name_time"),
                            models.Index(fields=["outcome", "created_at", "id"], name="audit_outcome_time"),
                            models.Index(fields=["action", "created_at", "id"], name="audit_action_time"),
                            models.Index(fields=["request_id"], name="audit_request"),
                            models.Index(fields=["attempt_id"], name="audit_attempt"),
                            models.Index(fields=["phase", "created_at", "id"], name="audit_phase_time"),
                            models.Index(fields=["change_request_id", "created_at", "id"], name="audit_change_time"),
                            models.Index(fields=["correlation_id", "created_at", "id"], name="audit_correlation_time"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
