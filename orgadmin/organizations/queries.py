"""What the organization pages read: the partner's organizations from Polytomic, and from the
audit log what Polytomic never returns (the client id last sent) and an organization's latest
calls (the audit log's own queries are `audit.queries`).

Calls to Polytomic take the `AuditContext` of the request (who and from where), so that every
call is recorded against the person who asked for it; failures arrive as the client's exceptions
(`orgadmin.polytomic.errors`), for the views to show.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from audit.models import AuditEntry
from audit.protocol import AuditContext
from audit.queries import NEWEST_FIRST, latest_rows
from orgadmin.polytomic.client import Identity, PolytomicClient, client
from orgadmin.polytomic.fields import REMEMBERED, Organization, Organizations

RECENT_ACTIVITY = 10

# The owner organization's id, by client (one per process, per Polytomic and partner key): it
# never changes, so each process keeps it once it has read it, without asking a shared cache
# (with the database cache, a query on every page for a value that cannot go stale).
_owner_ids: weakref.WeakKeyDictionary[PolytomicClient, str] = weakref.WeakKeyDictionary()


def organization_list(*, context: AuditContext) -> Organizations:
    """All of the partner's organizations, the partner's own (owner) organization first; each
    read only when asked for (`Organizations`)."""
    polytomic = client()
    organizations = polytomic.list_organizations(context=context)
    if organizations:
        _owner_ids[polytomic] = owner_id(organizations)
    return organizations


def organization_named(*, context: AuditContext, name: str, other_than: str = "") -> Organization | None:
    """The organization that holds `name` (as Polytomic compares names: case aside), other than
    the one `other_than` names, found in the list (an audited read as every other); None if no
    organization holds it now."""
    folded = name.strip().casefold()
    if not folded:
        return None
    for organization in organization_list(context=context):
        if organization.name.strip().casefold() == folded and organization.id != other_than:
            return organization
    return None


def owner_id(organizations: Sequence[Organization]) -> str:
    """The partner's own (owner) organization's id: Polytomic lists it first."""
    return organizations[0].id if organizations else ""


def organization_get(*, context: AuditContext, organization_id: UUID) -> Organization:
    return client().get_organization(organization_id, context=context)


def organization_owner_id(*, context: AuditContext) -> str:
    """The owner organization's id: only the process's first asking costs a call."""
    known = _owner_ids.get(client())
    return known if known is not None else owner_id(organization_list(context=context))


@dataclass(frozen=True)
class LastSent:
    """A value the portal last sent for an organization, and when."""

    value: str
    sent_at: datetime


def organization_last_sent_client_id(organization: Organization) -> LastSent | None:
    """The OIDC client id the portal last sent for this organization in a successful create or
    update, from the audit log: Polytomic never returns it. A write's body is on its attempt;
    the outcome says it succeeded, and names the organization (a create's attempt cannot).

    None, without a query, for an organization without OIDC: nothing shows or compares its
    client id then (the pages, the edit form and the edit guard all ask `has_oidc` first)."""
    if not organization.has_oidc:
        return None
    entry = (
        AuditEntry.objects.filter(
            organization_id=organization.id,
            action__in=[AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE],
            outcome=AuditEntry.Outcome.OK,
        )
        .order_by(*NEWEST_FIRST)
        .only("request_body", "created_at", "phase", "attempt_id")
        .first()
    )
    if entry is not None and entry.phase == AuditEntry.Phase.OUTCOME:
        sent = AuditEntry.objects.filter(pk=entry.attempt_id).values_list("request_body", flat=True).first()
    else:  # a write recorded as one entry, before the attempt and the outcome were apart
        sent = entry.request_body if entry is not None else None
    client_id = (sent or {}).get(REMEMBERED)
    return LastSent(value=client_id, sent_at=entry.created_at) if client_id else None


def organization_recent_activity(*, organization_id: UUID | str) -> list[AuditEntry]:
    """The organization's latest changes (the audit page's default view: no reads), one row
    each, for its page."""
    return latest_rows(organization_id=str(organization_id), size=RECENT_ACTIVITY, changes_only=True)


def partner_identity(*, context: AuditContext) -> Identity:
    """Who Polytomic takes the configured key for: the check after a deploy."""
    return client().get_identity(context=context)
