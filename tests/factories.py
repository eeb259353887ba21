"""Small hand-written factories for tests."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.contrib.auth.models import Group, User

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *, role: str | None = None, password: str = PASSWORD, **fields) -> User:
    """A staff user, in the role (group) of that name when one is given."""
    user = User.objects.create_user(username=username, password=password, **fields)
    if role is not None:
        if not Group.objects.filter(name=role).exists():
            ensure_roles()
        user.groups.add(Group.objects.get(name=role))
    return user


def ensure_roles() -> None:
    """Creates the roles with the migration's own code.

    A transactional test (the browser tests, for one) flushes the database afterwards, roles
    included, and tests do not all run in an order that keeps them after such a flush. Django's
    serialized_rollback cannot help the browser tests: Playwright's sync API runs them in a
    greenlet whose database connection is not the one the snapshot was stored on.
    """
    importlib.import_module("orgadmin.migrations.0002_roles").create_roles(apps, None)
    importlib.import_module("staff.migrations.0001_staff_sessions_permission").grant(apps, None)
    importlib.import_module("orgadmin.migrations.0012_change_requests").grant_approval_to_admins(apps, None)
    importlib.import_module("orgadmin.migrations.0014_people").grant_people_permissions(apps, None)
