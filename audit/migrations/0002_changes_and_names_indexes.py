"""The indexes of the audit page's "changes only" view and of its organization names (audit.models)."""

from __future__ import annotations

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(
                    (
                        "action__in",
                        (
                            "organization.list",
                            "organization.get",
                            "user.list",
                            "role.list",
                            "connection.list",
                            "connection.shared",
                            "entity.get",
                            "identity.get",
                            "issuer.check",
                            "audit.checkpoint",
                        ),
                    ),
                    _negated=True,
                ),
                fields=["created_at", "id"],
                name="audit_changes_time",
            ),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["organization_name", "organization_id"], name="audit_org_name"),
        ),
    ]
