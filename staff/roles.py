"""The staff roles. Groups and their permissions are created by migration 0002_roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Strongest first: a user in several groups is shown with the strongest.
ROLES = ("Admin", "Editor", "Viewer")
# The permission that sets each role apart from the weaker ones (migration 0002_roles).
DISTINGUISHING_PERMISSION = {
    "Admin": "orgadmin.view_audit_log",
    "Editor": "orgadmin.change_organization",
    "Viewer": "orgadmin.view_organization",
}


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The name of the user's strongest role, "Superuser" for a superuser, None without a role.

    Read from the user's permissions, which every page has already loaded to check access, so
    showing the role costs no query of its own.
    """
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return "Superuser"
    return next((role for role in ROLES if user.has_perm(DISTINGUISHING_PERMISSION[role])), None)
