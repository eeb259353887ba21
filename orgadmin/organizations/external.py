"""Changes made to an organization outside this portal (Polytomic's own UI, Terraform, a script
with the partner key), noticed by comparing what Polytomic answers with what the portal last saw
(`SeenOrganization`), and recorded as `organization.external_change` entries with before and after.

A difference one of the portal's own writes explains (an update sent since, whatever its answer
said, that set exactly what Polytomic now holds; a create or a delete the portal sent) is not
one: the memory is brought up to date without an entry. The organization pages compare the
organizations they read (`compare`, bounded); `manage.py notice_external_changes` (cron) compares
the whole list, and also notices organizations that appeared or disappeared (`notice_all`). The
first sight of an organization records its state without an entry. Two workers noticing the same
change record it once: the memory moves from the state both saw to the new one in one statement,
and only the worker whose statement moved it records the entry, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext
from audit.queries import NEWEST_FIRST
from orgadmin.models import SeenOrganization
from orgadmin.polytomic.fields import BY_NAME, READABLE, Organization

Action = AuditEntry.Action
# The most changes one page view records: the rest wait for the next, or for cron.
PAGE_NOTICES = 5
# A write of the portal's sent this long before the memory was last brought up to date may still
# explain what Polytomic holds (it was in flight when the memory was written).
IN_FLIGHT = timedelta(minutes=5)
NOT_MADE = (AuditEntry.Outcome.FAILED, AuditEntry.Outcome.REJECTED)


class EmptyList(Exception):
    """Polytomic listed no organization at all: every one would seem to have disappeared."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Noticed:
    """One change noticed: `kind` changed, appeared or disappeared; the fields' values before and after."""

    organization_id: str
    organization_name: str
    kind: str
    before: dict[str, str]
    after: dict[str, str]

    @property
    def fields(self) -> list[str]:
        names = [field.name for field in READABLE if self.before.get(field.name, "") != self.after.get(field.name, "")]
        return names


@dataclass(frozen=True)
class LastExternalChange:
    """The newest change recorded for an organization, as its page says it."""

    on: datetime
    labels: list[str]
    entry_id: int


def compare(organizations: Iterable[Organization], *, context: AuditContext, most: int = PAGE_NOTICES) -> list[Noticed]:
    """Compares the organizations a page read with what the portal last saw of each it has seen
    (one query); records up to `most` changes no write of the portal's explains. Organizations
    never seen are left to `notice_all`. Raises AuditUnavailable if the log refuses an entry."""
    shown = {organization.id: organization for organization in organizations}
    if not shown:
        return []
    noticed = []
    for seen in SeenOrganization.objects.filter(organization_id__in=shown):
        organization = shown[seen.organization_id]
        if len(noticed) >= most:
            break
        if seen.digest != _digest(organization.values()) and (change := _changed(seen, organization, context=context)):
            noticed.append(change)
    return noticed


def notice_all(organizations: Sequence[Organization], *, context: AuditContext) -> tuple[list[Noticed], int]:
    """`compare` for the whole list, unbounded, and the organizations that appeared (listed, never
    seen, not created by the portal) or disappeared (seen, not listed, not deleted by the portal).
    The first run records every organization's state without an entry. What was noticed, and how
    many organizations were seen for the first time."""
    if not organizations:  # the partner's own organization is always listed: an empty list is no answer to trust
        raise EmptyList("Polytomic listed no organization, not even your own: nothing was compared.")
    seen = {s.organization_id: s for s in SeenOrganization.objects.all()}
    listed = {organization.id: organization for organization in organizations}
    first_run = not seen
    noticed = compare(organizations, context=context, most=len(organizations))
    new = [organization for organization in organizations if organization.id not in seen]
    for organization in new:
        made_here = _portal_wrote(organization.id, Action.CREATE)
        with transaction.atomic():
            _, created = SeenOrganization.objects.get_or_create(
                organization_id=organization.id,
                defaults={"values": organization.values(), "digest": _digest(organization.values())},
            )
            if created and not first_run and not made_here:
                values = organization.values()
                noticed.append(_record(context, organization.id, organization.name, "appeared", {}, values))
    for organization_id, gone in seen.items():
        if organization_id in listed:
            continue
        with transaction.atomic():
            if not SeenOrganization.objects.filter(pk=gone.pk).delete()[0]:
                continue  # another worker noticed it first
            if not _portal_wrote(organization_id, Action.DELETE):
                noticed.append(_record(context, organization_id, gone.values.get("name", ""), "disappeared",
                                       gone.values, {}))  # fmt: skip
    return noticed, len(new) if first_run else 0


def last_change(organization_id: str) -> LastExternalChange | None:
    """The newest change made outside the portal recorded for the organization (one query)."""
    entry = (
        AuditEntry.objects.filter(organization_id=organization_id, action=Action.EXTERNAL_CHANGE)
        .order_by(*NEWEST_FIRST)
        .only("id", "created_at", "request_body")
        .first()
    )
    if entry is None:
        return None
    names = (entry.request_body or {}).get("fields") or []
    labels = [BY_NAME[name].label if name in BY_NAME else str(name) for name in names]
    return LastExternalChange(entry.created_at, labels, entry.pk)


def _changed(seen: SeenOrganization, organization: Organization, *, context: AuditContext) -> Noticed | None:
    now = organization.values()
    with transaction.atomic():
        moved = SeenOrganization.objects.filter(pk=seen.pk, digest=seen.digest).update(
            values=now, digest=_digest(now), seen_at=timezone.now()
        )
        if not moved or _explained(seen, now):  # another worker's, or the portal's own write
            return None
        return _record(context, organization.id, organization.name, "changed", seen.values, now)


def _explained(seen: SeenOrganization, now: dict[str, str]) -> bool:
    """Whether an update the portal sent since it last saw the organization set exactly `now`."""
    sent = (
        AuditEntry.objects.filter(
            organization_id=seen.organization_id,
            phase=AuditEntry.Phase.ATTEMPT,
            action=Action.UPDATE,
            created_at__gte=seen.seen_at - IN_FLIGHT,
        )
        .exclude(_known_not_made())
        .values_list("request_body", flat=True)
    )
    return any({field.name: (body or {}).get(field.name) or "" for field in READABLE} == now for body in sent)


def _portal_wrote(organization_id: str, action: str) -> bool:
    """Whether the portal sent a write of `action` to the organization not known to have failed."""
    # A create's attempt names no organization: its outcome does, or the resolution that found it made.
    written = Q(action=action) | Q(action=Action.RESOLVE, request_body__action=action, outcome=AuditEntry.Outcome.OK)
    return (
        AuditEntry.objects.filter(written, organization_id=organization_id)
        .exclude(phase=AuditEntry.Phase.OUTCOME, outcome__in=NOT_MADE)
        .exclude(_known_not_made())
        .exists()
    )


def _known_not_made() -> Exists:
    return Exists(AuditEntry.objects.filter(attempt_id=OuterRef("id"), outcome__in=NOT_MADE))


def _record(context: AuditContext, organization_id: str, name: str, kind: str, before: dict, after: dict) -> Noticed:
    noticed = Noticed(organization_id, name, kind, dict(before), dict(after))
    audit_protocol.record(
        context,
        action=Action.EXTERNAL_CHANGE,
        nothing_sent=True,
        what=f"a change made outside the portal to {organization_id}",
        using=DEFAULT_DB_ALIAS,  # in the memory's transaction: both commit, or neither
        method="GET",
        path=f"/api/organizations/{organization_id}",
        organization_id=organization_id,
        organization_name=name,
        request_body={"kind": kind, "fields": noticed.fields, "before": noticed.before, "after": noticed.after},
        outcome=AuditEntry.Outcome.OK,
        attempts=0,
    )
    return noticed


def _digest(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
