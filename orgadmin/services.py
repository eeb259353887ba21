"""What the portal does with organizations. Views call only these; these call only the client.

Each takes the `AuditContext` of the request (who and from where), so every call to Polytomic is
recorded against the person who asked for it. Failures arrive as the client's exceptions
(`orgadmin.polytomic.PolytomicError` and its subclasses), for the views to show.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet

from orgadmin import polytomic
from orgadmin.audit import AuditContext
from orgadmin.models import AuditEntry
from orgadmin.polytomic import Organization, OrganizationInput, organization_body


def organization_list(*, context: AuditContext) -> list[Organization]:
    """All of the partner's organizations, the partner's own (owner) organization first."""
    organizations = polytomic.client().list_organizations(context=context)
    remember_owner(organizations)
    return organizations


def organization_get(*, context: AuditContext, organization_id: UUID) -> Organization:
    return polytomic.client().get_organization(organization_id, context=context)


def organization_create(*, context: AuditContext, data: OrganizationInput, form_key: str) -> Organization:
    """Creates the organization. `form_key` is the create form's own key (see `idempotency_key`)."""
    key = idempotency_key(form_key=form_key, action="organization.create", body=organization_body(data))
    return polytomic.client().create_organization(data, idempotency_key=key, context=context)


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, form_key: str
) -> Organization:
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`."""
    key = idempotency_key(
        form_key=form_key, action="organization.update", target=str(organization_id), body=organization_body(data)
    )
    return polytomic.client().update_organization(organization_id, data, idempotency_key=key, context=context)


def organization_delete(
    *, context: AuditContext, organization_id: UUID, form_key: str, organization_name: str = ""
) -> None:
    key = idempotency_key(form_key=form_key, action="organization.delete", target=str(organization_id))
    polytomic.client().delete_organization(
        organization_id, idempotency_key=key, context=context, organization_name=organization_name
    )


def idempotency_key(*, form_key: str, action: str, target: str = "", body: dict | None = None) -> str:
    """The Idempotency-Key of one submission of a form: the form's own key, plus a keyed digest
    of what is done to what (the action, the organization, exactly the body sent).

    Resubmitting the same form with the same values (after a timeout, say) reuses the key, so
    Polytomic replays its first answer instead of acting twice. Anything else gets a key of its
    own: a corrected submission (Polytomic replays a key's first outcome, errors included, for a
    day), and the same form key used on another organization (a replayed answer would claim a
    delete that never happened). The digest is keyed with SECRET_KEY, so the key reveals nothing
    of the client secret inside the body.
    """
    material = json.dumps([action, target, body], sort_keys=True).encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), material, hashlib.sha256).hexdigest()[:24]
    return f"{form_key}-{digest}"


# --- What the edit form needs -----------------------------------------------------------------------

OWNER_CACHE_KEY = "orgadmin:owner-organization-id"


def organization_owner_id(*, context: AuditContext) -> str:
    """The id of the partner's own (owner) organization: the first one listed.

    It never changes, so it is cached after the first list; only a cold cache costs a call.
    """
    owner_id = cache.get(OWNER_CACHE_KEY)
    if owner_id is None:
        organizations = organization_list(context=context)
        owner_id = organizations[0].id if organizations else ""
    return owner_id


def remember_owner(organizations: list[Organization]) -> None:
    if organizations:
        cache.set(OWNER_CACHE_KEY, organizations[0].id, timeout=None)


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


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    before: str
    after: str

    @property
    def kind(self) -> str:
        if not self.before:
            return "added"
        if not self.after:
            return "removed"
        return "changed"


FIELD_LABELS = {
    "name": "Name",
    "sso_domain": "SSO domain",
    "sso_org_id": "SSO organization id",
    "issuer": "OIDC issuer",
    "client_id": "OIDC client id",
}


@dataclass(frozen=True)
class ChangeSummary:
    """What a save will change at Polytomic, for the operator to confirm."""

    changes: tuple[Change, ...]
    saml_removed: bool
    oidc_removed: bool
    oidc_credentials_sent: bool

    @property
    def changes_sso(self) -> bool:
        return any(change.field != "name" for change in self.changes)

    def fingerprint(self) -> str:
        return json.dumps([[c.field, c.before, c.after] for c in self.changes])


def organization_changes(*, before: Organization, after: OrganizationInput, last_client_id: str = "") -> ChangeSummary:
    """Compares the organization as Polytomic has it with what a save would send."""
    body = organization_body(after)
    known = {
        "name": before.name,
        "sso_domain": before.sso_domain,
        "sso_org_id": before.sso_org_id,
        "issuer": before.issuer,
        # Polytomic never returns the client id: compare with the one the portal last sent, if known.
        "client_id": last_client_id if before.issuer else "",
    }
    changes = []
    for field, label in FIELD_LABELS.items():
        old, new = known[field] or "", body[field] or ""
        if field == "client_id" and old == "" and new and before.issuer:
            continue  # unknown before: re-entering it is not a change we can show
        if old != new:
            changes.append(Change(field=field, label=label, before=old, after=new))
    return ChangeSummary(
        changes=tuple(changes),
        saml_removed=bool(before.sso_org_id or before.sso_domain) and not (body["sso_org_id"] or body["sso_domain"]),
        oidc_removed=bool(before.issuer) and not body["issuer"],
        oidc_credentials_sent=bool(body["client_secret"]),
    )


# --- The audit log, for staff ----------------------------------------------------------------------

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
    entries = AuditEntry.objects.all()
    if organization_id:
        entries = entries.filter(organization_id=organization_id)
    if actor:
        entries = entries.filter(actor_username=actor)
    if action:
        entries = entries.filter(action=action)
    if outcome:
        entries = entries.filter(outcome=outcome)
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    if request_id:
        entries = entries.filter(request_id=request_id)
    return entries


def audit_page(
    entries: QuerySet[AuditEntry],
    *,
    before: AuditCursor | None = None,
    after: AuditCursor | None = None,
    size: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """One page of entries, newest first, by keyset: never an OFFSET, never a COUNT(*).

    `before` asks for the entries older than a position, `after` for those newer than it.
    """
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
