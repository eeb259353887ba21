"""What the portal reads: organizations from Polytomic, and the audit log. Views call these for
reads, as they call `services` for writes.

Calls to Polytomic take the `AuditContext` of the request (who and from where), so that every
call is recorded against the person who asked for it; failures arrive as the client's exceptions
(`orgadmin.polytomic.errors`), for the views to show.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.core.cache import cache
from django.db.models import Q, QuerySet

from orgadmin.audit_log import HASHED_FIELDS
from orgadmin.models import AuditEntry
from orgadmin.polytomic.client import Identity, client
from orgadmin.polytomic.fields import Organization
from orgadmin.polytomic.recording import AuditContext

OWNER_CACHE_KEY = "orgadmin:owner-organization-id"
RECENT_ACTIVITY = 10


def organization_list(*, context: AuditContext) -> list[Organization]:
    """All of the partner's organizations, the partner's own (owner) organization first."""
    organizations = client().list_organizations(context=context)
    if organizations:
        cache.set(OWNER_CACHE_KEY, owner_id(organizations), timeout=None)
    return organizations


def owner_id(organizations: list[Organization]) -> str:
    """The partner's own (owner) organization's id: Polytomic lists it first."""
    return organizations[0].id if organizations else ""


def organization_get(*, context: AuditContext, organization_id: UUID) -> Organization:
    return client().get_organization(organization_id, context=context)


def organization_owner_id(*, context: AuditContext) -> str:
    """The owner organization's id. It never changes, so it is cached after the first list;
    only a cold cache costs a call."""
    cached = cache.get(OWNER_CACHE_KEY)
    return cached if cached is not None else owner_id(organization_list(context=context))


@dataclass(frozen=True)
class SentClientId:
    client_id: str
    sent_at: datetime


def organization_last_sent_client_id(*, organization_id: UUID | str) -> SentClientId | None:
    """The OIDC client id the portal last sent for this organization in a successful create or
    update, from the audit log: Polytomic never returns it."""
    entry = (
        AuditEntry.objects.filter(
            organization_id=str(organization_id),
            action__in=[AuditEntry.Action.CREATE, AuditEntry.Action.UPDATE],
            outcome=AuditEntry.Outcome.OK,
        )
        .order_by("-created_at", "-id")
        .only("request_body", "created_at")
        .first()
    )
    client_id = (entry.request_body or {}).get("client_id") if entry is not None else None
    return SentClientId(client_id=client_id, sent_at=entry.created_at) if client_id else None


def organization_recent_activity(*, organization_id: UUID | str) -> list[AuditEntry]:
    """The organization's latest audit entries, for its page: without the bodies and user
    agents, which the table does not show."""
    entries = AuditEntry.objects.filter(organization_id=str(organization_id))
    return list(entries.defer("request_body", "response_body", "user_agent")[:RECENT_ACTIVITY])


def partner_identity(*, context: AuditContext) -> Identity:
    """Who Polytomic takes the configured key for: the check after a deploy."""
    return client().get_identity(context=context)


# --- The audit log, for staff ----------------------------------------------------------------------

# The export's columns: what each entry's hash covers, but its bodies and the actor's id (the
# username is kept), then the hash itself.
EXPORT_COLUMNS = (
    *(name for name in HASHED_FIELDS if name not in {"actor_id", "request_body", "response_body"}),
    "entry_hash",
)


def audit_export_rows(**filters: Any) -> Iterator[tuple]:
    """The rows of the export of the entries matching `filters`, newest first, read from the
    database in chunks as they are consumed."""
    entries = audit_entries(**filters).order_by("-created_at", "-id")
    return entries.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)


AUDIT_PAGE_SIZE = 50
_CURSOR = re.compile(r"(?P<micros>[0-9]{1,18})-(?P<id>[0-9]{1,19})")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ENTRY_ID = 2**63 - 1  # the largest id a BigAutoField holds


@dataclass(frozen=True)
class AuditCursor:
    """A position in the log, newest first: an entry's time and id. Written as `<µs since epoch>-<id>`."""

    created_at: datetime
    id: int

    def __str__(self) -> str:
        micros = int(self.created_at.timestamp()) * 1_000_000 + self.created_at.microsecond
        return f"{micros}-{self.id}"

    @classmethod
    def parse(cls, value: str | None) -> AuditCursor | None:
        """The cursor a page link carries; None for anything else (a time or id out of range
        included), which is the first page."""
        match = _CURSOR.fullmatch(value or "")
        if match is None or int(match["id"]) > MAX_ENTRY_ID:
            return None
        try:
            created_at = EPOCH + timedelta(microseconds=int(match["micros"]))
        except OverflowError:  # after the year 9999
            return None
        return cls(created_at=created_at, id=int(match["id"]))

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditCursor:
        return cls(created_at=entry.created_at, id=entry.id)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    older: AuditCursor | None
    newer: AuditCursor | None


def audit_entries(
    *,
    organization_id: str = "",
    actor: str = "",
    action: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    request_id: str = "",
) -> QuerySet[AuditEntry]:
    """The entries matching every filter given; each filter has an index with the time."""
    lookups = {
        "organization_id": organization_id,
        "actor_username": actor,
        "action": action,
        "outcome": outcome,
        "created_at__gte": since,
        "created_at__lt": until,
        "request_id": request_id,
    }
    return AuditEntry.objects.filter(**{lookup: value for lookup, value in lookups.items() if value})


def audit_page(
    entries: QuerySet[AuditEntry],
    *,
    before: AuditCursor | None = None,
    after: AuditCursor | None = None,
    size: int | None = None,
) -> AuditPage:
    """One page of entries, newest first, by keyset: never an OFFSET, never a COUNT(*).

    `before` asks for the entries older than a position, `after` for those newer than it.
    """
    size = size or AUDIT_PAGE_SIZE
    if after is not None:
        newer_first = entries.filter(
            Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id)
        ).order_by("created_at", "id")
        rows = list(newer_first[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return AuditPage(
            entries=rows,
            older=AuditCursor.of(rows[-1]) if rows else None,
            newer=AuditCursor.of(rows[0]) if rows and more_newer else None,
        )
    if before is not None:
        entries = entries.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    rows = list(entries.order_by("-created_at", "-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return AuditPage(
        entries=rows,
        older=AuditCursor.of(rows[-1]) if rows and more_older else None,
        newer=AuditCursor.of(rows[0]) if rows and before is not None else None,
    )
