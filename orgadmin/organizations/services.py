"""What the organization pages change at Polytomic: create, update, delete.

Each takes the `AuditContext` of the request and, for a create or an update, the key of the form
that asked, from which it derives the call's Idempotency-Key; failures arrive as the client's
exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin import outcomes
from orgadmin.idempotency import idempotency_key
from orgadmin.organizations import credentials
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import (
    PolytomicError,
    PolytomicNotFound,
    PolytomicOutcomeUnknown,
    PolytomicValidationError,
)
from orgadmin.polytomic.fields import Organization, OrganizationInput

NO_CHOICE = credentials.Choice()


def organization_create(
    *, context: AuditContext, data: OrganizationInput, form_key: str, oidc: credentials.Choice = NO_CHOICE
) -> Organization:
    """Creates the organization; its OIDC credentials kept if `oidc` says so."""
    key = idempotency_key(form_key=form_key, action=AuditEntry.Action.CREATE, body=data.body())
    organization = organization_create_keyed(context=context, data=data, key=key)
    _credentials_sent(context, organization.id, data, oidc)
    return organization


def organization_create_keyed(*, context: AuditContext, data: OrganizationInput, key: str) -> Organization:
    """Creates the organization with the Idempotency-Key `key`. Its answer lost, a read finds out
    at once whether it was made; refused because its name is taken, the name may be taken by what
    an earlier create of unknown outcome made (orgadmin/outcomes.py): that organization is the
    result, not a conflict."""
    try:
        return client().create_organization(data, idempotency_key=key, context=context)
    except PolytomicOutcomeUnknown as lost:
        return _made_after_all(lost, lambda: outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.CREATE, request_id=context.request_id, idempotency_key=key
        ))  # fmt: skip
    except PolytomicValidationError as refused:
        made = None if "name" not in refused.field_errors else outcomes.made_by_an_earlier_create(
            context=context, name=data.name.strip()
        )  # fmt: skip
        if made is None:
            raise
        return made


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, form_key: str,
    oidc: credentials.Choice = NO_CHOICE,
) -> Organization:  # fmt: skip
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`; then
    keeps, replaces or erases its OIDC credentials as `oidc` says (credentials.credentials_sent)."""
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.UPDATE, target=str(organization_id), body=data.body()
    )
    try:
        updated = client().update_organization(
            organization_id, data, idempotency_key=key, context=context, secret_note=oidc.note
        )
    except PolytomicOutcomeUnknown as lost:  # its answer lost: a read finds out at once whether it was made
        updated = _made_after_all(lost, lambda: outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.UPDATE, request_id=context.request_id, idempotency_key=key
        ))  # fmt: skip
    _credentials_sent(context, str(organization_id), data, oidc)
    return updated


def _credentials_sent(context: AuditContext, organization_id: str, data: OrganizationInput, oidc: credentials.Choice):
    credentials.credentials_sent(
        organization_id=organization_id, data=data, keep=oidc.keep, resent=oidc.resent is not None,
        by=context.actor_username,
    )  # fmt: skip


def _made_after_all(lost: PolytomicOutcomeUnknown, find: Callable[[], outcomes.Finding | None]) -> Organization:
    """The organization a write whose answer was `lost` made, when a read (`find`) shows it done;
    otherwise its outcome stays unknown, and `lost` is raised again. After no answer in time, no
    read is made at once: the page would wait as long again (the next page that shows it reads)."""
    finding = None if lost.slow else find()
    if finding is None or not finding.done or finding.organization is None:
        raise lost
    return finding.organization


def organization_delete(*, context: AuditContext, organization_id: UUID, organization_name: str = "") -> None:
    """Deletes the organization. No Idempotency-Key: Polytomic's guide sets none on DELETE, and a
    repeated delete answers 404, which the pages read as "already deleted" (PolytomicNotFound) once a
    fresh read answers 404 too: a 404 to a DELETE of an organization Polytomic still has deleted
    nothing, and raises PolytomicError saying so."""
    try:
        client().delete_organization(organization_id, context=context, organization_name=organization_name)
    except PolytomicOutcomeUnknown as lost:  # its answer lost: a read finds out at once whether it was done
        finding = None if lost.slow else outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.DELETE, organization_id=str(organization_id),
            request_id=context.request_id,
        )  # fmt: skip
        if finding is None or not finding.done:
            raise
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
