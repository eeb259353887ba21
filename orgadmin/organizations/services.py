"""What the organization pages change at Polytomic: create, update, delete.

Each takes the `AuditContext` of the request and, for a create or an update, the key of the form
that asked, from which it derives the call's Idempotency-Key; failures arrive as the client's
exceptions.
"""

from __future__ import annotations

from uuid import UUID

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.idempotency import idempotency_key
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import Organization, OrganizationInput


def organization_create(*, context: AuditContext, data: OrganizationInput, form_key: str) -> Organization:
    key = idempotency_key(form_key=form_key, action=AuditEntry.Action.CREATE, body=data.body())
    return client().create_organization(data, idempotency_key=key, context=context)


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, form_key: str
) -> Organization:
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`."""
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.UPDATE, target=str(organization_id), body=data.body()
    )
    return client().update_organization(organization_id, data, idempotency_key=key, context=context)


def organization_delete(*, context: AuditContext, organization_id: UUID, organization_name: str = "") -> None:
    """Deletes the organization. No Idempotency-Key: Polytomic's guide sets none on DELETE, and a
    repeated delete answers 404, which the pages read as "already deleted" (PolytomicNotFound) once a
    fresh read answers 404 too: a 404 to a DELETE of an organization Polytomic still has deleted
    nothing, and raises PolytomicError saying so."""
    try:
        client().delete_organization(organization_id, context=context, organization_name=organization_name)
    except PolytomicNotFound as not_found:
        if organization_still_there(context=context, organization_id=organization_id) is None:
            raise not_found from None
        raise PolytomicError(
            "Polytomic answered the delete with “not found”, yet still has the organization: nothing was deleted. "
            "Try again in a moment.",
            status=not_found.status,
        ) from None


def organization_still_there(*, context: AuditContext, organization_id: UUID) -> Organization | None:
    """The organization as a fresh read finds it, or None when Polytomic has it no more.

    A DELETE answered 404 counts as done only once this says None: Polytomic has answered 404 to
    a DELETE of an organization it still had. The delete page (`organization_delete`) and a change
    request's send (`orgadmin.change_requests.resolving`) both confirm it so."""
    try:
        return client().get_organization(organization_id, context=context)
    except PolytomicNotFound:
        return None
