"""Creates the three roles (groups) and the permissions they hold.

Permissions are normally created after all migrations have run (post_migrate), which is too late
for a data migration that assigns them, so this one creates the few it needs itself. The role
definitions are frozen here, as a migration must be; a later change of roles is a new migration.
"""

from __future__ import annotations

from django.db import migrations

PERMISSIONS = {
    "view_organization": "Can view organizations",
    "add_organization": "Can create organizations",
    "change_organization": "Can edit organizations",
    "delete_organization": "Can delete organizations",
    "view_audit_log": "Can view the full audit log",
}

ROLES = {
    "Viewer": ["view_organization"],
    "Editor": ["view_organization", "add_organization", "change_organization"],
    "Admin": [
        "view_organization",
        "add_organization",
        "change_organization",
        "delete_organization",
        "view_audit_log",
    ],
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    content_type, _ = ContentType.objects.get_or_create(app_label="orgadmin", model="portalaccess")
    permissions = {
        codename: Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in PERMISSIONS.items()
    }
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([permissions[codename] for codename in codenames])


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orgadmin", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
