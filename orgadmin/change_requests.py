"""Four eyes: a change that can lock a customer out (PORTAL_APPROVAL_FOR) waits for a second
person before it is sent.

1. `request_update` / `request_delete`: instead of sending, the portal records a `ChangeRequest`:
   the exact body, the change summary as the requester confirmed it, the organization as it was,
   who asked and why, and when it expires; the typed client secret encrypted (`staff.encryption`).
2. `approve`, by anyone who may approve but the requester (the database refuses a requester as
   decider, `change_request_decided_by_another`): a guarded UPDATE takes the request from open
   to executing, with a deadline (`send_deadline`), so two approvers at once send it once. The
   organization is read again: if it changed since the request, the request is void and nothing
   is sent; otherwise the stored body is sent, exactly, with an Idempotency-Key of this send, and
   the outcome recorded. Polytomic refusing it (a 4xx) leaves the request failed, to be sent again.
3. A send whose outcome is not known (no answer, a 5xx, an answer that cannot be read, a 404 to a
   DELETE) is found out at once by reading the organization (`_resolve`). A request is *unknown*
   ("Sent — outcome not known") when that read fails too, when the audit log refuses the step that
   ends a send, or when its sender is gone (a killed worker): still executing past its deadline.
   `check`, by a person, and `resolve_unknown`, by the expire command, read the organization and
   compare it with the change and with the organization before: the change → executed; as before
   → failed (nothing took effect: send again or reject); anything else → void, saying what was found.
4. `reject`; `expire_due` for open requests past their time. A decided request's secret is erased
   (a failed or unknown one keeps it until it is sent, checked, rejected or expires).

Every step is an audit entry naming both people, chained with the calls it leads to
(`change_request_id`); each step and its entry are one transaction, or neither. The one exception:
when the log refuses the entry that ends a send, the request is marked unknown without one (the
write's attempt, committed before it was sent, already stands in the log), so that it is not left
executing; its check is recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin import organization_lock
from orgadmin.models import ChangeRequest
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import BY_NAME, READABLE, SECRETS, Organization, OrganizationInput
from orgadmin.polytomic.recording import mask_request_body
from orgadmin.services import idempotency_key
from staff.encryption import fernet

ENCRYPTION_PURPOSE = "orgadmin.change-request-secret"
logger = logging.getLogger(__name__)
# verify_audit's log, where its findings go (audit/management/commands/verify_audit.py).
verify_log = logging.getLogger("orgadmin.audit")
Status = ChangeRequest.Status
# The longest a live sender takes after taking a request: its wait for another write of the
# organization (`organization_lock.wait_seconds`), the fresh read and the write, each within the
# client's total timeout (POLYTOMIC_TOTAL_TIMEOUT), and this margin for the database.
SEND_MARGIN_SECONDS = 30
SENDING = Q(status=Status.EXECUTING)  # what the sender's last step may end


def send_deadline(now: datetime) -> datetime:
    seconds = organization_lock.wait_seconds() + 2 * settings.POLYTOMIC_TOTAL_TIMEOUT + SEND_MARGIN_SECONDS
    return now + timedelta(seconds=seconds)


class ChangeRequestClosed(Exception):
    """The request cannot be decided by this person now; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StillUnknown(ChangeRequestClosed):
    """A check could not find out (Polytomic could not be read, or the log refused the finding):
    the request stays of unknown outcome."""


class OutcomeNotRecorded(AuditUnavailable):
    """The change was sent to Polytomic, and the audit log refused the step that records what came
    of it: the request is marked unknown, to be checked at Polytomic. Never "nothing was sent"."""

    def __init__(self, message: str) -> None:
        super().__init__(message, nothing_sent=False)


def request_update(
    *, context: AuditContext, organization: Organization, data: OrganizationInput, summary: dict, reason: str
) -> ChangeRequest:
    body = data.body()
    secrets = {name: body.pop(name) for name in SECRETS if name in body}
    return _request(
        context=context, organization=organization, kind=ChangeRequest.Kind.UPDATE, body=body, summary=summary,
        reason=reason, secret=fernet(ENCRYPTION_PURPOSE).encrypt(_joined(secrets)).decode() if secrets else "",
    )  # fmt: skip


def request_delete(*, context: AuditContext, organization: Organization, reason: str) -> ChangeRequest:
    return _request(
        context=context, organization=organization, kind=ChangeRequest.Kind.DELETE, body={}, summary={},
        reason=reason, secret="",
    )  # fmt: skip


def _request(*, context: AuditContext, organization: Organization, kind: str, body: dict, summary: dict,
             reason: str, secret: str) -> ChangeRequest:  # fmt: skip
    with transaction.atomic():
        change = ChangeRequest.objects.create(
            organization_id=organization.id,
            organization_name=organization.name,
            kind=kind,
            body=body,
            organization_state=organization.values(),
            summary=summary,
            reason=reason,
            secret=secret,
            requested_by=context.actor,
            expires_at=timezone.now() + timedelta(hours=settings.PORTAL_CHANGE_REQUEST_HOURS),
        )
        _record_step(context, change, AuditEntry.Action.CHANGE_REQUEST, body={**_masked(change), "reason": reason})
    return change


def approve(*, context: AuditContext, change_request_id: int, comment: str) -> ChangeRequest:
    """Takes the request (once, whoever clicks first), checks the organization did not change,
    and sends it. Returns the request as it ends: executed, failed or void."""
    now = timezone.now()
    with transaction.atomic():
        taken = (
            ChangeRequest.objects.filter(ChangeRequest.waiting_q(now), pk=change_request_id)
            .exclude(requested_by=context.actor)
            .update(
                status=Status.EXECUTING,
                decided_by=context.actor,
                decided_at=now,
                comment=comment,
                send_deadline=send_deadline(now),
            )
        )
        if not taken:
            raise ChangeRequestClosed(_why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        _record_step(context, change, AuditEntry.Action.CHANGE_APPROVE, body={"comment": comment})
    return _execute_alone(context, change)


def _execute_alone(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    """`_execute` with no other write of the organization in between (`organization_lock`): its
    fresh read compares what the send will overwrite. Another write going on for too long fails
    the request, nothing sent, to be sent again."""
    try:
        with organization_lock.held(change.organization_id):
            return _execute(context, change)
    except organization_lock.Busy as busy:
        return _failed(context, change, busy.message)


def reject(*, context: AuditContext, change_request_id: int, comment: str) -> ChangeRequest:
    """Rejects a request still waiting; one past its time is expired (by `expire_due`), not rejected."""
    with transaction.atomic():
        taken = (
            ChangeRequest.objects.filter(ChangeRequest.waiting_q(), pk=change_request_id)
            .exclude(requested_by=context.actor)
            .update(
                status=Status.REJECTED, decided_by=context.actor, decided_at=timezone.now(), comment=comment, secret=""
            )
        )
        if not taken:
            raise ChangeRequestClosed(_why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        _record_step(context, change, AuditEntry.Action.CHANGE_REJECT, body={"comment": comment})
    return change


def expire_due(*, context: AuditContext | None = None) -> int:
    """Expires the open requests past their time, erasing their secrets; the number expired."""
    context = context or AuditContext(actor=None, actor_label="portal")
    expired = 0
    now = timezone.now()
    for change_id in ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            if ChangeRequest.objects.filter(pk=change_id, status__in=ChangeRequest.OPEN).update(
                status=Status.EXPIRED, secret=""
            ):
                _record_step(context, ChangeRequest.objects.get(pk=change_id), AuditEntry.Action.CHANGE_EXPIRE, body={})
                expired += 1
    return expired


def check(*, context: AuditContext, change_request_id: int) -> ChangeRequest:
    """A person finds out what became of a request whose outcome is not known: Polytomic is read,
    and the request ends executed, failed or void (or stays unknown if Polytomic cannot be read)."""
    change = ChangeRequest.objects.filter(pk=change_request_id).select_related("requested_by", "decided_by").first()
    if change is None:
        raise ChangeRequestClosed("There is no such change request.")
    if change.requested_by_id == getattr(context.actor, "pk", None):
        raise ChangeRequestClosed("You asked for this change: another person must check it.")
    if not change.outcome_unknown:
        raise ChangeRequestClosed(f"There is nothing to check: the request is {change.status_shown.lower()}.")
    return _check(context, change)


def resolve_unknown(*, context: AuditContext | None = None) -> list[ChangeRequest]:
    """Checks at Polytomic every request whose outcome is not known (the expire command runs it,
    so that none stays so, with its secret, after a whole portal stopped); the requests as they end."""
    context = context or AuditContext(actor=None, actor_label="portal")
    checked = []
    for change in ChangeRequest.objects.filter(ChangeRequest.outcome_unknown_q()).select_related(
        "requested_by", "decided_by"
    ):
        try:
            checked.append(_check(context, change))
        except StillUnknown as exc:
            change.result = exc.message
            checked.append(change)
        except ChangeRequestClosed:  # checked by someone else meanwhile
            continue
    return checked


def _check(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    try:
        change = _resolve(context, change, taken=ChangeRequest.outcome_unknown_q())
    except AuditUnavailable:
        raise StillUnknown(
            "The audit log could not record what was found, so the request stays “Sent — outcome not known”. "
            "Try again in a moment."
        ) from None
    if change.status == Status.UNKNOWN:
        raise StillUnknown(change.result)
    return change


def _execute(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    """Sends the approved request, unless the organization changed since it was asked. No
    transaction is held across the calls to Polytomic."""
    calls = dataclasses.replace(context, change_request_id=change.pk)
    organization_id = UUID(change.organization_id)
    try:
        current = client().get_organization(organization_id, context=calls)
    except PolytomicNotFound:
        return _void(context, change, "The organization was deleted at Polytomic since the request.")
    except (PolytomicError, AuditUnavailable) as exc:  # the log refusing the read: nothing sent either
        return _failed(context, change, f"The organization could not be read first, so nothing was sent. {exc.message}")
    if current.values() != change.organization_state:
        return _void(context, change, "The organization changed at Polytomic since the request: nothing was sent.")
    ChangeRequest.objects.filter(pk=change.pk).update(sends=F("sends") + 1)
    change.sends += 1
    try:
        _send(change, calls)
    except AuditUnavailable as exc:
        if exc.nothing_sent:  # its attempt could not be recorded, so it was not sent
            return _failed(context, change, exc.message)
        ending, answered = _after_a_failure(context, change, exc)
    except PolytomicError as exc:
        ending, answered = _after_a_failure(context, change, exc)
    else:
        ending = partial(_ended, context, change, Status.EXECUTED, "Done.", AuditEntry.Action.CHANGE_EXECUTE,
                         body={"sends": change.sends})  # fmt: skip
        answered = "Polytomic answered that it is done"
    return _ending_a_send(ending, context, change, answered)


def _after_a_failure(
    context: AuditContext, change: ChangeRequest, exc: PolytomicError | AuditUnavailable
) -> tuple[Callable[[], ChangeRequest], str]:
    """The step that ends a send Polytomic did not answer with a success, and what it answered.
    A refusal (4xx) took no effect. No answer, a 5xx or an answer that cannot be read may have
    come after Polytomic made the change; and a 404 to a DELETE is "already gone" only if a read
    says so (it has answered 404 to a DELETE of an organization it still had): these are found out
    by reading."""
    status = exc.status if isinstance(exc, PolytomicError) else None  # the log's refusal: no answer known
    if status is not None and 400 <= status < 500 and status != 404:
        return partial(_failed, context, change, exc.message), f"Polytomic refused it: {exc.message}"
    answered = (
        f"Polytomic answered the {change.kind} with “not found”"
        if status == 404
        else f"The {change.kind} was sent; what came of it is not known ({exc.message})"
    )
    return partial(_resolve, context, change, taken=SENDING, answered=answered), answered


def _send(change: ChangeRequest, calls: AuditContext) -> None:
    organization_id = UUID(change.organization_id)
    if change.kind == ChangeRequest.Kind.DELETE:
        client().delete_organization(organization_id, context=calls, organization_name=change.organization_name)
        return
    data = OrganizationInput(**{**dict.fromkeys(SECRETS, ""), **change.body, **_secrets(change)})
    key = idempotency_key(
        form_key=f"changerequest{change.pk}x{change.sends}",
        action=AuditEntry.Action.UPDATE,
        target=change.organization_id,
        body=data.body(),
    )
    client().update_organization(organization_id, data, idempotency_key=key, context=calls)


def _ending_a_send(step: Callable[[], ChangeRequest], context: AuditContext, change: ChangeRequest,
                   answered: str) -> ChangeRequest:  # fmt: skip
    """Runs the step that ends a send. If the audit log refuses its entry, the request is marked
    unknown (not left executing) and the page is told what was sent, never "nothing was sent"."""
    try:
        return step()
    except AuditUnavailable:
        why = f"{answered}, but the audit log could not record the outcome. Check it at Polytomic."
        _mark_unknown(context, change, why, taken=SENDING)
        raise OutcomeNotRecorded(
            f"{answered}, but the audit log could not record the outcome: the request shows “Sent — outcome "
            "not known” until someone checks it at Polytomic."
        ) from None


def _mark_unknown(context: AuditContext, change: ChangeRequest, why: str, *, taken: Q) -> ChangeRequest:
    """The request as sent with its outcome not known, with a change.unknown entry when the log takes
    one. When it does not, the mark stands alone: the write's attempt is in the log already."""
    try:
        with transaction.atomic():
            if not ChangeRequest.objects.filter(taken, pk=change.pk).update(status=Status.UNKNOWN, result=why):
                raise ChangeRequestClosed(_why_closed(change.pk, context))
            change.refresh_from_db()
            try:
                with transaction.atomic():
                    _record_step(context, change, AuditEntry.Action.CHANGE_UNKNOWN, body={"why": why},
                            outcome=AuditEntry.Outcome.UNKNOWN)  # fmt: skip
            except AuditUnavailable:
                pass  # logged by audit.protocol.record
    except DatabaseError:  # the database itself is gone: the deadline marks it (outcome_unknown_q)
        logger.exception("Change request %s could not be marked as of unknown outcome", change.pk)
    return change


def _resolve(context: AuditContext, change: ChangeRequest, *, taken: Q, answered: str = "") -> ChangeRequest:
    """Reads the organization and ends the request by what is found (`_finding`), with a
    change.check entry naming the people and the finding; marks it unknown if Polytomic cannot be read."""
    calls = dataclasses.replace(context, change_request_id=change.pk)
    lead = f"{answered}. " if answered else ""
    try:
        current = client().get_organization(UUID(change.organization_id), context=calls)
    except PolytomicNotFound:
        current = None
    except (PolytomicError, AuditUnavailable) as exc:  # the log refusing the read: its answer unused
        why = f"{lead}Polytomic could not be read to find out what came of it: {exc.message}"
        if change.status == Status.UNKNOWN:  # marked already: nothing new to record
            raise StillUnknown(f"Still not known: {why}") from None
        return _mark_unknown(context, change, why, taken=taken)
    status, found, why = _finding(change, current)
    return _ended(
        context, change, status, lead + why, AuditEntry.Action.CHANGE_CHECK,
        body={"found": found, "status": status, "why": lead + why}, taken=taken,
    )  # fmt: skip


# What a check may find, in words (`_finding`).
DELETED = "Polytomic no longer has the organization: it is deleted."
GONE = "Polytomic no longer has the organization: it was deleted meanwhile."
NOTHING_DELETED = (
    "Polytomic still has the organization as it was: nothing was deleted. It can be sent again, or rejected."
)
DONE = "Polytomic shows the organization as the change sets it: it is done."
NO_EFFECT = (
    "Polytomic shows the organization as it was: the change did not take effect. It can be sent again, or rejected."
)
CANNOT_TELL = (
    "Polytomic shows the organization as it was, which is also what the change sets in every field Polytomic "
    "shows; whether the OIDC client id and secret were replaced cannot be read. Send it again to be sure, or reject it."
)


def _finding(change: ChangeRequest, current: Organization | None) -> tuple[str, str, str]:
    """What the organization as read (None: gone) says of the request: its new status, what was
    found (the change, as before, gone, something else) and the words for it."""
    before = change.organization_state
    found = current.values() if current is not None else None
    if change.kind == ChangeRequest.Kind.DELETE:
        if found is None:
            return Status.EXECUTED, "gone", DELETED
        if found == before:
            return Status.FAILED, "as before", NOTHING_DELETED
        changed = _differences(found, before)
        return Status.VOID, "something else", (
            f"Polytomic still has the organization, changed since the request ({changed}): nothing was deleted, "
            "and the request is void."
        )  # fmt: skip
    if found is None:
        return Status.VOID, "gone", GONE
    target = {field.name: change.body.get(field.name, "") for field in READABLE}
    if found == target:
        return (Status.FAILED, "as before", CANNOT_TELL) if found == before else (Status.EXECUTED, "the change", DONE)
    if found == before:
        return Status.FAILED, "as before", NO_EFFECT
    return Status.VOID, "something else", (
        f"Polytomic shows neither the change nor the organization as it was ({_differences(found, target)}): "
        "the request is void."
    )  # fmt: skip


def _differences(found: dict[str, str], expected: dict[str, str]) -> str:
    """The fields found that are not as `expected`, with what they hold."""
    return "; ".join(
        f"{BY_NAME[name].label} is “{value}”" if value else f"{BY_NAME[name].label} is blank"
        for name, value in found.items()
        if value != expected.get(name, "")
    )


def _void(context: AuditContext, change: ChangeRequest, why: str) -> ChangeRequest:
    return _ended(context, change, Status.VOID, why, AuditEntry.Action.CHANGE_VOID, body={"why": why})


def _failed(context: AuditContext, change: ChangeRequest, message: str) -> ChangeRequest:
    """Polytomic failed (its call is in the log): the request stays open for the approver to send again."""
    return _ended(context, change, Status.FAILED, message, AuditEntry.Action.CHANGE_EXECUTE,
                  body={"sends": change.sends, "failed": message}, outcome=AuditEntry.Outcome.FAILED)  # fmt: skip


def _ended(
    context: AuditContext,
    change: ChangeRequest,
    status: str,
    result: str,
    action: str,
    *,
    body: dict[str, Any],
    outcome: str = AuditEntry.Outcome.OK,
    taken: Q = SENDING,
) -> ChangeRequest:
    """The request's new status and its entry, in one transaction. Only a failed request keeps its
    secret, to be sent again. `taken` guards the UPDATE: a sender past its deadline finds its
    request checked by someone else, and two checks end it once."""
    with transaction.atomic():
        kept = {} if status == Status.FAILED else {"secret": ""}
        if not ChangeRequest.objects.filter(taken, pk=change.pk).update(status=status, result=result, **kept):
            raise ChangeRequestClosed(_why_closed(change.pk, context))
        change.refresh_from_db()
        _record_step(context, change, action, body=body, outcome=outcome)
    return change


def _why_closed(change_request_id: int, context: AuditContext) -> str:
    change = ChangeRequest.objects.filter(pk=change_request_id).first()
    if change is None:
        return "There is no such change request."
    if change.requested_by_id == getattr(context.actor, "pk", None):
        return "You asked for this change: another person must decide it."
    if change.status in ChangeRequest.OPEN:
        return "This change request has expired."
    if change.outcome_unknown:
        return "This change was sent and its outcome is not known: check it at Polytomic."
    return f"This change request is already decided: {change.get_status_display().lower()}."


def _record_step(
    context: AuditContext,
    change: ChangeRequest,
    action: str,
    *,
    body: dict[str, Any],
    outcome: str = AuditEntry.Outcome.OK,
) -> None:
    """The entry of a step of the request's life, naming the requester and (when decided) the
    decider. On the step's own connection, in its transaction: the step and its entry commit
    together, or neither (the caller's transaction rolls back on AuditUnavailable)."""
    audit_protocol.record(
        context,
        action=action,
        nothing_sent=True,
        what=f"{action} of change request {change.pk}",
        using=DEFAULT_DB_ALIAS,
        organization_id=change.organization_id,
        organization_name=change.organization_name,
        request_body={
            "change_request": change.pk,
            "kind": change.kind,
            "requested_by": change.requested_by.get_username(),
            "decided_by": change.decided_by.get_username() if change.decided_by else None,
            **body,
        },
        outcome=outcome,
        attempts=0,
        change_request_id=change.pk,
    )


def _masked(change: ChangeRequest) -> dict[str, Any]:
    """The body as the audit log keeps one: a secret only as whether it is there."""
    body = {**change.body, **dict.fromkeys([name for name in SECRETS if change.secret], "[set]")}
    return {"body": mask_request_body(body) if body else None}


def _joined(secrets: dict[str, str]) -> bytes:
    return json.dumps(secrets).encode()


def _secrets(change: ChangeRequest) -> dict[str, str]:
    if not change.secret:
        return {}
    return json.loads(fernet(ENCRYPTION_PURPOSE).decrypt(change.secret.encode()))


def report_outcomes_unknown(sender: object, write: Callable[[str], object], **kwargs: object) -> None:
    """For `verify_audit` (`audit.verification.verified`): the approved change requests sent whose
    outcome is not known: the audit log refused the step that ends a send, or the sender stopped past
    its deadline."""
    unknown = list(
        ChangeRequest.objects.filter(ChangeRequest.outcome_unknown_q())
        .select_related("requested_by", "decided_by")
        .order_by("decided_at", "pk")
    )
    if not unknown:
        write("Change requests sent with outcome unknown: none.")
        return
    write(
        f"Change requests sent with outcome unknown: {len(unknown)}. Check each at Polytomic (its page, or "
        "`expire_change_requests`)."
    )
    for change in unknown:
        decided_at = f"{change.decided_at:%Y-%m-%d %H:%M:%S} UTC" if change.decided_at else "-"
        write(
            f"  change request {change.pk}  {change.get_kind_display().lower()} "
            f"{change.organization_name or change.organization_id}  requested by "
            f"{change.requested_by.get_username()}  approved by "
            f"{change.decided_by.get_username() if change.decided_by else '-'} at {decided_at}  "
            f"status {change.status}"
        )
    verify_log.warning("Change requests sent with outcome unknown: %s", len(unknown))
