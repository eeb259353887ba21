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
from orgadmin.organizations import credentials
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import Organization, OrganizationInput

NO_CHOICE = credentials.Choice()


def organization_create(
    *, context: AuditContext, data: OrganizationInput, form_key: str, oidc: credentials.Choice = NO_CHOICE
) -> Organization:
    """Creates the organization; its OIDC credentials kept if `oidc` says so."""
    key = idempotency_key(form_key=form_key, action=AuditEntry.Action.CREATE, body=data.body())
    organization = client().create_organization(data, idempotency_key=key, context=context)
    _credentials_sent(context, organization.id, data, oidc)
    return organization


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, form_key: str,
    oidc: credentials.Choice = NO_CHOICE,
) -> Organization:  # fmt: skip
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`; then
    keeps, replaces or erases its OIDC credentials as `oidc` says (credentials.credentials_sent)."""
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.UPDATE, target=str(organization_id), body=data.body()
    )
    updated = client().update_organization(
        organization_id, data, idempotency_key=key, context=context, secret_note=oidc.note
    )
    _credentials_sent(context, str(organization_id), data, oidc)
    return updated


def _credentials_sent(context: AuditContext, organization_id: str, data: OrganizationInput, oidc: credentials.Choice):
    credentials.credentials_sent(
        organization_id=organization_id, data=data, keep=oidc.keep, resent=oidc.resent is not None,
        by=context.actor_username,
    )  # fmt: skip


def organization_delete(*, context: AuditContext, organization_id: UUID, organization_name: str = "") -> None:
    """Deletes the organization. No Idempotency-Key: Polytomic's guide sets none on DELETE, and a
    repeated delete answers 404, which the pages read as "already deleted" (PolytomicNotFound) once a
    fresh read answers 404 too: a 404 to a DELETE of an organization Polytomic still has deleted
    nothing, and raises PolytomicError saying so."""
    try:
        client().delete_organization(organization_id, context=context, organization_name=organization_name)
    except PolytomicNotFound as not_found:
        if organization_still_there(context=context, organization_id=organization_id) is None:
            credentials.credentials_erased(str(organization_id))
            raise not_found from None
        raise PolytomicError(
            "Polytomic answered the delete with “not found”, yet still has the organization: nothing was deleted. "
            "Try again in a moment.",
            status=not_found.status,
        ) from None
    credentials.credentials_erased(str(organization_id))


def organization_still_there(*, context: AuditContext, organization_id: UUID) -> Organization | None:
    """The organization as a fresh read finds it, or None when Polytomic has it no more.

    A DELETE answered 404 counts as done only once this says None: Polytomic has answered 404 to
    a DELETE of an organization it still had. The delete page (`organization_delete`) and a change
    request's send (`orgadmin.change_requests.resolving`) both confirm it so."""
    try:
        return client().get_organization(organization_id, context=context)
    except PolytomicNotFound:
        return None
