"""Writes whose outcome is unknown, and how the portal finds out what came of them.

A write is of unknown outcome when it may have reached Polytomic and no answer that can be read
says what came of it: the connection broke after it was sent, no answer came in time, a success
could not be read (`PolytomicOutcomeUnknown`, recorded as an outcome `unknown`), or the worker
died with it in flight (an attempt with no outcome at all). None of these is "failed".

`resolve` finds out by reading Polytomic: a create looks the name up, an update reads the
organization and compares it with what was sent, a delete reads it (a 404 is "done"), a user or a
share the same way. What it finds is recorded as a resolution entry (`write.resolve`) naming the
attempt (`attempt_id`): `ok` when the write was done, `failed` when it was not, `unknown` when no
read can ever tell (a later write of the portal's to the same thing replaced what this one set, or
Polytomic does not show what it makes, as a user's API keys): that resolution settles it too, and
says so in words rather than guess. Seeing the write done settles it at once; not seeing it
settles it only once the write can no longer land (`settle_seconds` after it was sent): until then
it stays unknown. Pages that show a write
resolve it as they show it (`resolve_pending`), and `manage.py resolve_writes` resolves what is
left, for cron; `verify_audit` lists only the attempts still unresolved.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from audit import protocol as audit_protocol
from audit import queries
from audit.models import AuditEntry
from audit.protocol import PORTAL, AuditContext, AuditUnavailable
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import READABLE, Organization

logger = logging.getLogger(__name__)
Action = AuditEntry.Action
# The most resolved in one page view: the rest wait for the next, or for cron.
PAGE_RESOLVES = 5

USER_PATH = re.compile(r"^/api/organizations/(?P<org>[^/]+)/users/(?P<user>[^/?]+)")
SHARE_PATH = re.compile(r"^/api/organizations/(?P<owner>[^/]+)/connections/(?P<connection>[^/]+)/shared$")
RESOLVABLE = (Action.CREATE, Action.UPDATE, Action.DELETE, Action.USER_INVITE, Action.USER_UPDATE,
              Action.USER_DELETE, Action.USER_KEY, Action.CONNECTION_SHARE)  # fmt: skip
# The later writes that replace what a write set, so that a read no longer shows it whether or not
# it was made: a create renamed or deleted, an update updated again or deleted, an invitation's user
# removed, roles changed again, a share's organization deleted. (A delete not seen done is seen:
# nothing brings back an organization or a user with the same id.)
OVERTAKEN_BY = {
    Action.CREATE: (Action.UPDATE, Action.DELETE),
    Action.UPDATE: (Action.UPDATE, Action.DELETE),
    Action.USER_INVITE: (Action.USER_DELETE, Action.DELETE),
    Action.USER_UPDATE: (Action.USER_UPDATE, Action.USER_DELETE, Action.DELETE),
    Action.CONNECTION_SHARE: (Action.DELETE,),
}


SETTLED_AS = {True: AuditEntry.Outcome.OK, False: AuditEntry.Outcome.FAILED, None: AuditEntry.Outcome.UNKNOWN}
# A later write with one of these outcomes changed nothing at Polytomic.
NOT_MADE = (AuditEntry.Outcome.FAILED, AuditEntry.Outcome.REJECTED)


def settle_seconds() -> float:
    """How long after it was sent a write may still land at Polytomic: not seeing it before then
    says nothing (an onboarding's create was seen to land a minute after its call was cut)."""
    return 3 * settings.POLYTOMIC_TOTAL_TIMEOUT


@dataclass(frozen=True)
class Finding:
    """What a read of Polytomic says of a write: done or not (None: cannot tell yet), in words,
    and the id of what it made or changed, when known."""

    done: bool | None
    words: str
    polytomic_id: str = ""
    organization_name: str = ""
    organization: Organization | None = None  # as read, for a create or an update
    # With `done` None: no read will ever tell, so the write is settled as unknown, said in words.
    final: bool = False


def unresolved(**lookups: Any) -> QuerySet[AuditEntry]:
    """The writes' attempts matching `lookups` whose outcome is not known, oldest first."""
    return queries.attempts_of_unknown_outcome().filter(**lookups)


def resolve(attempt: AuditEntry, *, context: AuditContext = PORTAL, now: datetime | None = None) -> Finding:
    """Reads Polytomic for the write `attempt` stands for and, if that settles it, records the
    resolution entry. Polytomic failing to answer, or the log refusing the entry, leaves the write
    unknown (the finding says so)."""
    calls = dataclasses.replace(
        context, correlation_id=attempt.correlation_id, change_request_id=attempt.change_request_id
    )
    try:
        finding = _finding(attempt, calls)
    except (PolytomicError, AuditUnavailable) as exc:
        return Finding(None, f"Polytomic could not be read to find out: {exc.message}")
    if finding.done is False and not _settled(attempt, now):
        return Finding(None, "Polytomic does not show it yet; it may still land, so the portal checks again later.")
    if finding.done is False and (later := overtaken_by(attempt)) is not None:
        finding = Finding(
            None,
            f"A later write of the portal's (entry {later.pk}, {later.action}) replaced what this one set: a read of "
            f"Polytomic can no longer tell whether it was made. Entry {later.pk} says what holds now.",
            final=True,
        )
    if finding.done is None and not finding.final:
        return finding
    try:
        _record(attempt, finding, calls)
    except AuditUnavailable:
        return Finding(None, "The audit log could not record what was found; the portal checks again later.")
    return finding


def resolve_pending(
    *, context: AuditContext = PORTAL, most: int | None = PAGE_RESOLVES, idle: bool = False, **lookups: Any
) -> list[tuple[AuditEntry, Finding]]:
    """Resolves (up to `most` of) the unresolved writes matching `lookups` that are over: sent
    longer ago than a call can take. For a page that shows them, as it shows them, and for cron;
    each attempt with what was found. `idle`: the portal is stopped and Polytomic idle, so every
    write is over and a write not seen done will not land (the end of a load run)."""
    over = timezone.now() - timedelta(seconds=0 if idle else settings.POLYTOMIC_TOTAL_TIMEOUT)
    # Their ids first: a page with none to resolve reads no write's body.
    ids = list(unresolved(action__in=RESOLVABLE, created_at__lte=over, **lookups).values_list("id", flat=True)[:most])
    attempts = AuditEntry.objects.filter(pk__in=ids).order_by("created_at", "id") if ids else []
    now = timezone.now() + timedelta(seconds=settle_seconds()) if idle else None
    return [(attempt, resolve(attempt, context=context, now=now)) for attempt in attempts]


def resolve_at_once(*, context: AuditContext, action: str, **lookups: Any) -> Finding | None:
    """Right after a write's answer was lost, in the same request: reads Polytomic for the newest
    unresolved write of `action` matching `lookups` (its Idempotency-Key, or the request's id). A
    write seen done is settled at once; not seen, it stays unknown. None if there is no such write."""
    attempt = unresolved(action=action, **lookups).last()
    return resolve(attempt, context=context) if attempt is not None else None


def made_by_an_earlier_create(*, context: AuditContext, name: str) -> Organization | None:
    """The organization named `name` that an earlier create of unknown outcome made, if a read of
    Polytomic finds one: a create refused because its name is taken may be refused by the very
    organization the operator's earlier attempt made (its answer lost), which is no conflict."""
    for attempt in reversed(unresolved(action=Action.CREATE, request_body__name=name)[:PAGE_RESOLVES]):
        finding = resolve(attempt, context=context)
        if finding.done:
            return finding.organization
    resolutions = AuditEntry.objects.filter(action=Action.RESOLVE, organization_name=name, outcome="ok")
    earlier = (
        resolutions.filter(request_body__action=Action.CREATE)
        .order_by("-created_at", "-id")
        .values_list("organization_id", flat=True)
        .first()
    )
    if not earlier:
        return None
    try:
        found = client().get_organization(UUID(earlier), context=context)
    except PolytomicNotFound:
        return None
    return found if found.name.casefold() == name.casefold() else None


def record_found(*, context: AuditContext, done: bool, words: str, **lookups: Any) -> None:
    """Settles the unresolved writes matching `lookups` by what a read made elsewhere found (a
    change request's check), with a resolution entry each. Raises AuditUnavailable if the log refuses."""
    for attempt in unresolved(action__in=RESOLVABLE, **lookups):
        _record(attempt, Finding(done, words), context)


def what_came_of(*, context: AuditContext, correlation_id: UUID, idempotency_key: str) -> Finding | None:
    """What came of the writes of a flow (`correlation_id`) sent with `idempotency_key`, resolving
    any of unknown outcome first: the newest known ending, an answer or a resolution (`done` None
    while none is known). None if no such write was recorded: none was sent."""
    entries = AuditEntry.objects.filter(correlation_id=correlation_id, idempotency_key=idempotency_key)
    if not entries.filter(phase=AuditEntry.Phase.ATTEMPT).exists():
        return None
    for attempt in unresolved(correlation_id=correlation_id, idempotency_key=idempotency_key):
        resolve(attempt, context=context)
    ending = (
        entries.exclude(phase=AuditEntry.Phase.ATTEMPT)
        .exclude(outcome=AuditEntry.Outcome.UNKNOWN)
        .order_by("-created_at", "-id")
        .first()
    )
    if ending is None:
        return Finding(None, "Still not known.")
    done = ending.outcome == AuditEntry.Outcome.OK
    if ending.action == Action.RESOLVE:
        made = (ending.request_body or {}).get("id") or ""
        return Finding(done, (ending.request_body or {}).get("found", ""), made, ending.organization_name)
    made = ending.organization_id if ending.action == Action.CREATE else _answered_id(ending.response_body)
    return Finding(done, ending.error_message, made, ending.organization_name)


def _answered_id(response_body: str) -> str:
    """The id in a success's answer as the log keeps it (`{"data": {"id": ...}}`), if any."""
    try:
        data = json.loads(response_body).get("data")
    except (ValueError, AttributeError):
        return ""
    return str(data.get("id") or "") if isinstance(data, dict) else ""


def overtaken_by(attempt: AuditEntry) -> AuditEntry | None:
    """The first later write of the portal's that replaced what `attempt` set (`OVERTAKEN_BY`): to
    the same organization (a create's: one of the name it sent, as the later write names it), the
    same user where it names one; any not known to have failed."""
    actions = OVERTAKEN_BY.get(attempt.action)
    if not actions:
        return None
    later = AuditEntry.objects.filter(phase=AuditEntry.Phase.ATTEMPT, action__in=actions, id__gt=attempt.pk).exclude(
        Exists(AuditEntry.objects.filter(attempt_id=OuterRef("id"), outcome__in=NOT_MADE))
    )
    if attempt.action == Action.CREATE:
        name = str((attempt.request_body or {}).get("name") or "").strip()
        later = later.filter(organization_name__iexact=name)
    else:
        later = later.filter(organization_id=attempt.organization_id)
    user = USER_PATH.match(attempt.path)
    for candidate in later.order_by("id").only("id", "action", "path")[:50]:
        theirs = USER_PATH.match(candidate.path)
        # An invitation's path names no user (its id is in the answer that was lost): any later
        # removal in the organization may be of that user.
        if candidate.action == Action.DELETE or user is None or (theirs and theirs["user"] == user["user"]):
            return candidate
    return None


def _settled(attempt: AuditEntry, now: datetime | None) -> bool:
    return (now or timezone.now()) - attempt.created_at >= timedelta(seconds=settle_seconds())


def _record(attempt: AuditEntry, finding: Finding, context: AuditContext) -> None:
    if not unresolved(pk=attempt.pk).exists():  # resolved meanwhile, by another page or by cron
        return
    made = finding.polytomic_id if attempt.action == Action.CREATE else ""  # a create's attempt names no id
    audit_protocol.record(
        context,
        action=Action.RESOLVE,
        nothing_sent=True,
        what=f"the resolution of entry {attempt.pk}",
        method=attempt.method,
        path=attempt.path,
        organization_id=attempt.organization_id or made,
        organization_name=attempt.organization_name or finding.organization_name,
        idempotency_key=attempt.idempotency_key,
        request_body={
            "attempt": attempt.pk,
            "action": attempt.action,
            "done": finding.done,
            "found": finding.words,
            "id": finding.polytomic_id or None,
        },
        outcome=SETTLED_AS[finding.done],
        error_message="" if finding.done else finding.words,
        attempt_id=attempt.pk,
        attempts=0,
    )


# --- What a read says of each kind of write ----------------------------------------------------------


def _finding(attempt: AuditEntry, context: AuditContext) -> Finding:
    sent = attempt.request_body or {}
    if attempt.action == Action.CREATE:
        return _created(sent, context)
    if attempt.action in (Action.UPDATE, Action.DELETE):
        try:
            current = client().get_organization(UUID(attempt.organization_id), context=context)
        except PolytomicNotFound:
            current = None
        if attempt.action == Action.DELETE:
            return Finding(True, "Polytomic no longer has the organization: it is deleted.") if current is None else (
                Finding(False, "Polytomic still has the organization: nothing was deleted."))  # fmt: skip
        return _updated(sent, current)
    if attempt.action == Action.CONNECTION_SHARE:
        return _shared(attempt, context)
    return _people(attempt, sent, context)


def _target(sent: dict[str, Any]) -> dict[str, str]:
    """What the organization's readable fields hold once `sent` is done (a field left out is blank)."""
    return {field.name: sent.get(field.name) or "" for field in READABLE}


def _created(sent: dict[str, Any], context: AuditContext) -> Finding:
    name = str(sent.get("name") or "").strip()
    named = [o for o in client().list_organizations(context=context) if o.name.casefold() == name.casefold()]
    made = next((o for o in named if o.values() == _target(sent)), None)
    if made is not None:
        return Finding(True, f"Polytomic has the organization “{made.name}” as sent: it was created.", made.id,
                       made.name, made)  # fmt: skip
    if named:
        return Finding(
            False, f"Polytomic has an organization named “{name}”, not as sent: this create did not make it."
        )
    return Finding(False, f"Polytomic has no organization named “{name}”: it was not created.")


def _updated(sent: dict[str, Any], current: Organization | None) -> Finding:
    if current is None:
        return Finding(False, "Polytomic no longer has the organization: the update was not made.")
    if current.values() == _target(sent):
        return Finding(
            True, "Polytomic shows the organization as sent: the update was made.", current.id, current.name, current
        )
    return Finding(False, "Polytomic shows the organization not as sent: the update was not made.", current.id)


def _people(attempt: AuditEntry, sent: dict[str, Any], context: AuditContext) -> Finding:
    if attempt.action == Action.USER_KEY:  # Polytomic shows no user's keys, and a key is in its answer alone
        return Finding(
            None,
            "Polytomic does not show a user's keys, so whether one was made cannot be known; if one was, no one has "
            "it: make another.",
            final=True,
        )
    organization_id = UUID(attempt.organization_id)
    users = client().list_users(organization_id, context=context)
    if attempt.action == Action.USER_INVITE:
        email = str(sent.get("email") or "").casefold()
        user = next((u for u in users if u.email.casefold() == email), None)
        if user is None:
            return Finding(False, f"Polytomic has no user {sent.get('email')}: the invitation was not made.")
        return Finding(True, f"Polytomic has the user {user.email}: the invitation was made.", user.id)
    user_id = (USER_PATH.match(attempt.path) or {"user": ""})["user"]
    user = next((u for u in users if u.id == user_id), None)
    if attempt.action == Action.USER_DELETE:
        return Finding(True, "Polytomic no longer has the user: removed.") if user is None else (
            Finding(False, "Polytomic still has the user: nothing was removed."))  # fmt: skip
    if user is not None and sorted(user.role_ids) == sorted(sent.get("role_ids") or []):
        return Finding(True, "Polytomic shows the user's roles as sent: changed.", user.id)
    return Finding(False, "Polytomic does not show the user's roles as sent: not changed.")


def _shared(attempt: AuditEntry, context: AuditContext) -> Finding:
    match = SHARE_PATH.match(attempt.path)
    into = str((attempt.request_body or {}).get("child_organization_id") or attempt.organization_id)
    copies = client().list_shared_connections(UUID(match["owner"]), UUID(match["connection"]), context=context)
    copy = next((c for c in copies if c.organization_id == into), None)
    if copy is None:
        return Finding(False, "Polytomic shows no copy of the connection in the organization: it was not shared.")
    return Finding(True, "Polytomic shows the connection shared into the organization: it was shared.", copy.id)
