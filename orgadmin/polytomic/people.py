"""A customer organization's people at Polytomic: its users, the roles they hold, and the API key
minted for one of them (users.yml and the roles endpoint, API version 2025-09-18). The partner's
connections shared into it are `connections`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orgadmin.polytomic.text import text_field, uuid_text

# What the audit log keeps of these bodies: the fields a request sends, and those of an answer.
# Never the `value` of an API key (`recording` redacts every field it is not told to keep).
REQUEST_FIELDS = frozenset({"email", "role_ids"})
ANSWER_FIELDS = frozenset({"email", "organization_id", "role_ids", "role", "name", "system"})


@dataclass(frozen=True)
class Role:
    id: str
    name: str
    system: bool = False

    @classmethod
    def from_api(cls, data: Any) -> Role:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a role")
        name = text_field(data, "name") or data["id"]
        return cls(id=uuid_text(data["id"]), name=name, system=data.get("system") is True)


@dataclass(frozen=True)
class User:
    id: str
    email: str
    role_ids: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Any) -> User:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a user")
        role_ids = data.get("role_ids") or ()
        if not isinstance(role_ids, list | tuple) or not all(isinstance(r, str) for r in role_ids):
            raise ValueError("role_ids is not a list of ids")
        return cls(id=uuid_text(data["id"]), email=text_field(data, "email"), role_ids=tuple(role_ids))


@dataclass(frozen=True)
class ApiKey:
    """A key minted for a user: shown once, never stored, never logged."""

    value: str = field(repr=False)

    @classmethod
    def from_api(cls, data: Any) -> ApiKey:
        if not isinstance(data, Mapping) or not isinstance(data.get("value"), str) or not data["value"]:
            raise ValueError("not an API key")
        return cls(value=data["value"])
