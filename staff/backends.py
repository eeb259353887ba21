"""The portal's authentication backend.

Every request of a signed-in member of staff reads their user and their permissions before
anything else. Through the ORM those two reads build and compile their queries, joins included,
each time; with their SQL written once here they cost a fraction of that (docs/performance.md,
and `python manage.py bench`, "CPU of a signed-in request that renders nothing"). The SQL
is plain enough for SQLite and PostgreSQL alike, and names its tables from the models.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, router


class ModelBackendOneQuery(ModelBackend):
    """Django's ModelBackend, reading the user with a fixed query, and their permissions, their
    own and their groups', in one fixed query instead of two."""

    def get_user(self, user_id):
        model = get_user_model()
        try:
            user_id = model._meta.pk.to_python(user_id)  # as the ORM's lookup would take it
        except ValidationError:
            return None
        user = next(iter(model._default_manager.raw(_user_sql(), [user_id])), None)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        # Kept on the user object for the request, as ModelBackend keeps its own (under a name of ours).
        if not hasattr(user_obj, "_portal_permissions"):
            if user_obj.is_superuser:
                names = Permission.objects.values_list("content_type__app_label", "codename").order_by()
            else:
                with connections[router.db_for_read(Permission)].cursor() as cursor:
                    cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                    names = cursor.fetchall()
            user_obj._portal_permissions = {f"{app_label}.{codename}" for app_label, codename in names}
        return user_obj._portal_permissions


@cache
def _user_sql() -> str:
    meta = get_user_model()._meta
    return f"SELECT * FROM {meta.db_table} WHERE {meta.pk.column} = %s"  # noqa: S608 (names from the model)


@cache
def _permissions_sql() -> str:
    """The app label and codename of each permission the user holds directly or through a group."""
    user_permissions = get_user_model().user_permissions.through._meta.db_table
    user_groups = get_user_model().groups.through._meta.db_table
    group_permissions = Group.permissions.through._meta.db_table
    return (
        f"SELECT ct.app_label, p.codename FROM {Permission._meta.db_table} p "  # noqa: S608 (names from the models)
        f"JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN (SELECT permission_id FROM {user_permissions} WHERE user_id = %s) "
        f"OR p.id IN (SELECT gp.permission_id FROM {group_permissions} gp "
        f"JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)"
    )
