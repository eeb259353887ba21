"""A customer organization's people at Polytomic: its users, the roles they hold, and the API key
minted for one of them (users.yml and the roles endpoint, API version 2025-09-18); and the
partner's connections shared into it (SDK 25.9.10: connections and shared_connections)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orgadmin.polytomic.text import text_field, uuid_text

# What the audit log keeps of these bodies: the fields a request sends, and those of an answer.
# Never the `value` of an API key (`recording` redacts every field it is not told to keep).
REQUEST_FIELDS = frozenset({"email", "role_ids"})
ANSWER_FIELDS = frozenset({"email", "organization_id", "role_ids", "role", "name", "system", "type", "status"})
# A share's body: the customer organization it goes to.
SHARE_FIELDS = frozenset({"child_organization_id"})


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


@dataclass(frozen=True)
class Connection:
    """One of the partner's connections (a warehouse, a CRM...), as listed for sharing."""

    id: str
    name: str
    type_name: str = ""

    @classmethod
    def from_api(cls, data: Any) -> Connection:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a connection")
        kind = data.get("type") if isinstance(data.get("type"), Mapping) else {}
        return cls(id=uuid_text(data["id"]), name=text_field(data, "name"), type_name=text_field(kind, "name"))


@dataclass(frozen=True)
class SharedConnection:
    """The copy of a connection in the customer organization it was shared into."""

    id: str

    @classmethod
    def from_api(cls, data: Any) -> SharedConnection:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a shared connection")
        return cls(id=uuid_text(data["id"]))


def many(item: Any) -> Any:
    """A reader of a list of `item`s: `data` null is an empty list."""

    def read(data: Any) -> list:
        if data is None:
            return []
        if not isinstance(data, list):
            raise ValueError("data is not a list")
        return [item(entry) for entry in data]

    return read
