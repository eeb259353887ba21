"""Small hand-written factories for tests."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *, role: str | None = None, password: str = PASSWORD, **fields) -> User:
    """A staff user, in the role (group) of that name when one is given."""
    user = User.objects.create_user(username=username, password=password, **fields)
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return user
