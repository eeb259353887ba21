"""A change request sent whose outcome is not known (status `unknown`, and the deadline of a send
in progress), with the audit actions that record it and its check at Polytomic; and the texts that
come from Polytomic stored whatever they hold (NUL, lone surrogates: models.STORED_MARK)."""

from __future__ import annotations

from django.db import migrations, models

import orgadmin.models


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0018_api_key_form_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="changerequest",
            name="send_deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("organization.list", "List organizations"),
                    ("organization.get", "View organization"),
                    ("organization.create", "Create organization"),
                    ("organization.update", "Update organization"),
                    ("organization.delete", "Delete organization"),
                    ("audit.prune", "Prune audit log"),
                    ("audit.rekey", "Key the audit log's chain"),
                    ("identity.get", "Check the partner key"),
                    ("audit.checkpoint", "Verify the audit log"),
                    ("change.request", "Request a change"),
                    ("change.approve", "Approve a change"),
                    ("change.reject", "Reject a change"),
                    ("change.expire", "A change request expired"),
                    ("change.void", "A change request became void"),
                    ("change.execute", "Carry out an approved change"),
                    ("change.unknown", "A change was sent, its outcome not known"),
                    ("change.check", "Check a change at Polytomic"),
                    ("user.list", "List an organization's users"),
                    ("user.invite", "Invite a user"),
                    ("user.update", "Change a user's roles"),
                    ("user.delete", "Remove a user"),
                    ("user.key", "Create a user's API key"),
                    ("role.list", "List an organization's roles"),
                    ("connection.list", "List the partner's connections"),
                    ("connection.share", "Share a connection"),
                    ("issuer.check", "Check an OIDC issuer"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="body",
            field=orgadmin.models.StorableJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="comment",
            field=orgadmin.models.StorableTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="organization_name",
            field=orgadmin.models.StorableTextField(),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="organization_state",
            field=orgadmin.models.StorableJSONField(),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="reason",
            field=orgadmin.models.StorableTextField(),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="result",
            field=orgadmin.models.StorableTextField(
                blank=True, help_text="What Polytomic answered, or why the request is void."
            ),
        ),
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
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="changerequest",
            name="summary",
            field=orgadmin.models.StorableJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="onboarding",
            name="issuer_check",
            field=orgadmin.models.StorableJSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="onboarding",
            name="organization_input",
            field=orgadmin.models.StorableJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="onboarding",
            name="organization_name",
            field=orgadmin.models.StorableTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="onboardingtask",
            name="detail",
            field=orgadmin.models.StorableJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="onboardingtask",
            name="error",
            field=orgadmin.models.StorableTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="onboardingtask",
            name="label",
            field=orgadmin.models.StorableTextField(),
        ),
        migrations.AlterField(
            model_name="onboardingtask",
            name="polytomic_id",
            field=orgadmin.models.StorableTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="onboardingtask",
            name="target",
            field=orgadmin.models.StorableTextField(blank=True),
        ),
    ]
