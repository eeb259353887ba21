"""The permission to see staff members and end their sessions, given to Admins.

Created here rather than after all migrations (post_migrate), so that it can be given to the
Admin role of orgadmin's migration 0002 at once; frozen, as a migration must be.
"""

from __future__ import annotations

from django.db import migrations, models


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="staff", model="staffaccess")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="end_staff_sessions",
        defaults={"name": "Can see staff members and end their sessions"},
    )
    for group in Group.objects.filter(name="Admin"):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="staff", codename="end_staff_sessions"
    ).delete()


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("orgadmin", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffAccess",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "managed": False,
                "default_permissions": (),
                "permissions": [("end_staff_sessions", "Can see staff members and end their sessions")],
            },
        ),
        migrations.RunPython(grant, revoke, elidable=False),
    ]
