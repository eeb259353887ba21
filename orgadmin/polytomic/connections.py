"""The partner's connections at Polytomic (a warehouse, a CRM...), and their copies shared into a
customer organization (SDK 25.9.10: connections and shared_connections). Not people: a
connection belongs to an organization, not to one of its users."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orgadmin.polytomic.text import text_field, uuid_text

# What the audit log keeps of these bodies (`recording` redacts every field it is not told to
# keep): a share's body, the customer organization it goes to; and those of a listed connection.
SHARE_FIELDS = frozenset({"child_organization_id"})
ANSWER_FIELDS = frozenset({"name", "organization_id", "status", "type"})


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
    """The copy of a connection in the customer organization it was shared into (which a share's
    answer does not name, and a list of the shares does)."""

    id: str
    organization_id: str = ""

    @classmethod
    def from_api(cls, data: Any) -> SharedConnection:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not a shared connection")
        return cls(id=uuid_text(data["id"]), organization_id=text_field(data, "organization_id"))
