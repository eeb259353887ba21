"""What an id is at Polytomic, and the organization that owns it, by name: two audited reads (the
lookup, then the owner organization, for its name)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from audit.protocol import AuditContext
from orgadmin.polytomic.client import client
from orgadmin.polytomic.entities import Entity
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import Organization


@dataclass(frozen=True)
class Found:
    entity: Entity
    # The organization that owns it, as read; None when that read failed (the page then names its id).
    organization: Organization | None
    organization_error: str = ""


def find(*, context: AuditContext, entity_id: UUID) -> Found | None:
    """What `entity_id` is, or None when Polytomic knows no such id among the partner's
    organizations. Polytomic failing raises its errors (`orgadmin.polytomic.errors`), and the
    audit log refusing the read AuditUnavailable, for the view to show; the owner's read failing
    does not: what the lookup found is shown all the same."""
    polytomic = client()
    try:
        entity = polytomic.get_entity(entity_id, context=context)
    except PolytomicNotFound:
        return None
    if not entity.organization_id:
        return Found(entity, None, "Polytomic did not say which organization owns it.")
    try:
        organization = polytomic.get_organization(UUID(entity.organization_id), context=context)
    except PolytomicError as exc:
        return Found(entity, None, exc.message)
    return Found(entity, organization)
