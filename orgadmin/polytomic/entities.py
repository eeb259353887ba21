"""What Polytomic's partner entity lookup says an id is (`GET /api/organizations/entities/{id}`,
the published operation `get-for-partner`; SDK 25.9.x `entities.get_for_partner`): its type, the
organization that owns it, its canonical path and the resources it hangs from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orgadmin.polytomic.text import text_field, uuid_text

# What the audit log keeps of the answer (`recording` redacts every field it is not told to keep).
ANSWER_FIELDS = frozenset({"type", "canonical_path", "organization_id", "relationships"})
# The types the published document names, in words (the SDK also names harbor types).
TYPE_NAMES = {
    "organization": "Organization",
    "user": "User",
    "connection": "Connection",
    "model": "Model",
    "sync": "Sync",
    "sync_execution": "Sync run",
    "bulk_sync": "Bulk sync",
    "bulk_sync_execution": "Bulk sync run",
}


@dataclass(frozen=True)
class Relationship:
    """A resource the entity hangs from (a sync run's sync), by name."""

    name: str
    id: str
    path: str = ""


@dataclass(frozen=True)
class Entity:
    id: str
    type: str
    organization_id: str
    canonical_path: str = ""
    relationships: tuple[Relationship, ...] = field(default=())

    @property
    def type_name(self) -> str:
        """The type in words; a type the published document does not name, as Polytomic wrote it."""
        return TYPE_NAMES.get(self.type) or self.type.replace("_", " ").capitalize() or "Thing"

    @classmethod
    def from_api(cls, data: Any) -> Entity:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            raise ValueError("not an entity")
        organization_id = text_field(data, "organization_id")
        related = data.get("relationships") or {}
        if not isinstance(related, Mapping):
            raise ValueError("relationships is not an object")
        relationships = []
        for name, value in related.items():
            if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
                raise ValueError("a relationship without an id")
            relationships.append(Relationship(str(name), uuid_text(value["id"]), text_field(value, "path")))
        return cls(
            id=uuid_text(data["id"]),
            type=text_field(data, "type"),
            organization_id=uuid_text(organization_id) if organization_id else "",
            canonical_path=text_field(data, "canonical_path"),
            relationships=tuple(relationships),
        )
