"""The staff roles. Groups and their permissions are created by migration 0002_roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Strongest first: a user in several groups is shown with the strongest.
ROLES = ("Admin", "Editor", "Viewer")


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The name of the user's strongest role, "Superuser" for a superuser, None without a role."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return "Superuser"
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), None)
