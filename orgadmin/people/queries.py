"""What the people pages read: a customer organization's users and roles from Polytomic, and from
the audit log when the portal last minted a user's API key (Polytomic does not say)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from audit.models import AuditEntry
from audit.protocol import AuditContext
from audit.queries import NEWEST_FIRST
from orgadmin.polytomic.client import client
from orgadmin.polytomic.people import Role, User


def organization_users(*, context: AuditContext, organization_id: UUID) -> list[User]:
    return client().list_users(organization_id, context=context)


def roles_by_id(*, context: AuditContext, organization_id: UUID) -> dict[str, Role]:
    """The organization's roles by id (asked as the organization itself: `organization_roles`)."""
    return {role.id: role for role in organization_roles(context=context, organization_id=organization_id)}


def organization_roles(*, context: AuditContext, organization_id: UUID) -> list[Role]:
    """The organization's roles, asked as the organization itself (HTTP Basic with its id and the
    partner key, as Polytomic's Terraform provider asks; a refusal is `PolytomicBasicAuthRefused`)."""
    return client().list_roles(organization_id, context=context)


def user_last_key(*, organization_id: UUID | str, user_id: UUID | str) -> datetime | None:
    """When this portal last minted an API key for the user (from the audit log), if it did:
    Polytomic does not say whether a user has one."""
    return (
        AuditEntry.objects.filter(
            organization_id=str(organization_id),
            action=AuditEntry.Action.USER_KEY,
            outcome=AuditEntry.Outcome.OK,
            path__startswith=f"/api/organizations/{organization_id}/users/{user_id}/keys",
        )
        .order_by(*NEWEST_FIRST)
        .values_list("created_at", flat=True)
        .first()
    )
