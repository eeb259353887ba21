"""What the portal does with organizations. Views call only these; these call only the client.

Each takes the `AuditContext` of the request (who and from where), so every call to Polytomic is
recorded against the person who asked for it. Failures arrive as the client's exceptions
(`orgadmin.polytomic.PolytomicError` and its subclasses), for the views to show.
"""

from __future__ import annotations

from uuid import UUID

from orgadmin import polytomic
from orgadmin.audit import AuditContext
from orgadmin.polytomic import Organization, OrganizationInput


def organization_list(*, context: AuditContext) -> list[Organization]:
    """All of the partner's organizations, the partner's own (owner) organization first."""
    return polytomic.client().list_organizations(context=context)


def organization_get(*, context: AuditContext, organization_id: UUID) -> Organization:
    return polytomic.client().get_organization(organization_id, context=context)


def organization_create(*, context: AuditContext, data: OrganizationInput, idempotency_key: str) -> Organization:
    return polytomic.client().create_organization(data, idempotency_key=idempotency_key, context=context)


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, idempotency_key: str
) -> Organization:
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`."""
    return polytomic.client().update_organization(
        organization_id, data, idempotency_key=idempotency_key, context=context
    )


def organization_delete(
    *, context: AuditContext, organization_id: UUID, idempotency_key: str, organization_name: str = ""
) -> None:
    polytomic.client().delete_organization(
        organization_id, idempotency_key=idempotency_key, context=context, organization_name=organization_name
    )
