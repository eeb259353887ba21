from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="PortalAccess",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [
                    ("view_organization", "Can view organizations"),
                    ("add_organization", "Can create organizations"),
                    ("change_organization", "Can edit organizations"),
                    ("delete_organization", "Can delete organizations"),
                    ("view_audit_log", "Can view the full audit log"),
                ],
            },
        ),
    ]
