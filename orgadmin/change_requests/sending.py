"""An approved change request sent: taken once (whoever clicks first), sent unless the
organization changed since it was asked, and ended by Polytomic's answer, or by a read when the
answer does not say what came of it (`orgadmin.change_requests.resolving`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.change_requests import notify
from orgadmin.change_requests.resolving import resolve
from orgadmin.change_requests.steps import (
    SENDING,
    ChangeRequestClosed,
    OutcomeNotRecorded,
    Status,
    ended,
    failed,
    mark_unknown,
    record_step,
    secret_values,
    send_deadline,
    void,
    why_closed,
)
from orgadmin.idempotency import idempotency_key
from orgadmin.models import ChangeRequest
from orgadmin.organizations import credentials, lock
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound, PolytomicOutcomeUnknown
from orgadmin.polytomic.fields import SECRETS, OrganizationInput


def approve(*, context: AuditContext, change_request_id: int, comment: str) -> ChangeRequest:
    """Takes the request (once, whoever clicks first), checks the organization did not change,
    and sends it. Returns the request as it ends: executed, failed or void; its requester is
    mailed what came of it (`notify`)."""
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
            raise ChangeRequestClosed(why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        record_step(context, change, AuditEntry.Action.CHANGE_APPROVE, body={"comment": comment})
    try:
        return _execute_alone(context, change)
    finally:  # however the send ended, even with the audit log refusing its end: the request as it stands
        notify.decided(change)


def _execute_alone(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    """`_execute` with no other write of the organization in between (`orgadmin.organizations.lock`):
    its fresh read compares what the send will overwrite. Another write going on for too long fails
    the request, nothing sent, to be sent again."""
    try:
        with lock.held(change.organization_id):
            return _execute(context, change)
    except lock.Busy as busy:
        return failed(context, change, busy.message)


def _execute(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    """Sends the approved request, unless the organization changed since it was asked. No
    transaction is held across the calls to Polytomic."""
    calls = dataclasses.replace(context, change_request_id=change.pk)
    organization_id = UUID(change.organization_id)
    try:
        current = client().get_organization(organization_id, context=calls)
    except PolytomicNotFound:
        return void(context, change, "The organization was deleted at Polytomic since the request.")
    except (PolytomicError, AuditUnavailable) as exc:  # the log refusing the read: nothing sent either
        return failed(context, change, f"The organization could not be read first, so nothing was sent. {exc.message}")
    if current.values() != change.organization_state:
        return void(context, change, "The organization changed at Polytomic since the request: nothing was sent.")
    ChangeRequest.objects.filter(pk=change.pk).update(sends=F("sends") + 1)
    change.sends += 1
    try:
        _send(change, calls)
    except AuditUnavailable as exc:
        if exc.nothing_sent:  # its attempt could not be recorded, so it was not sent
            return failed(context, change, exc.message)
        ending, answered = _after_a_failure(context, change, exc)
    except PolytomicError as exc:
        ending, answered = _after_a_failure(context, change, exc)
    else:
        ending = partial(ended, context, change, Status.EXECUTED, "Done.", AuditEntry.Action.CHANGE_EXECUTE,
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
        return partial(failed, context, change, exc.message), f"Polytomic refused it: {exc.message}"
    answered = (
        f"Polytomic answered the {change.kind} with “not found”"
        if status == 404
        else f"The {change.kind} was sent; what came of it is not known ({exc.message})"
    )
    # Its answer lost, the change may still land: only seeing it done ends the request before its
    # send deadline (`resolving.resolve`).
    lost = isinstance(exc, PolytomicOutcomeUnknown)
    return partial(resolve, context, change, taken=SENDING, answered=answered, lost=lost), answered


def _send(change: ChangeRequest, calls: AuditContext) -> None:
    organization_id = UUID(change.organization_id)
    if change.kind == ChangeRequest.Kind.DELETE:
        client().delete_organization(organization_id, context=calls, organization_name=change.organization_name)
        credentials.credentials_erased(change.organization_id)
        return
    data = OrganizationInput(**{**dict.fromkeys(SECRETS, ""), **change.body, **secret_values(change)})
    key = idempotency_key(
        form_key=f"changerequest{change.pk}x{change.sends}",
        action=AuditEntry.Action.UPDATE,
        target=change.organization_id,
        body=data.body(),
    )
    note = change.summary.get("client_secret", "")
    client().update_organization(organization_id, data, idempotency_key=key, context=calls, secret_note=note)
    credentials.credentials_sent(
        organization_id=change.organization_id,
        data=data,
        keep=bool(change.summary.get("keep_credentials")) and credentials.keeping_is_on(),
        resent=bool(change.summary.get("resends_kept")),
        by=change.requested_by.get_username(),
    )


def _ending_a_send(step: Callable[[], ChangeRequest], context: AuditContext, change: ChangeRequest,
                   answered: str) -> ChangeRequest:  # fmt: skip
    """Runs the step that ends a send. If the audit log refuses its entry, the request is marked
    unknown (not left executing) and the page is told what was sent, never "nothing was sent"."""
    try:
        return step()
    except AuditUnavailable:
        why = f"{answered}, but the audit log could not record the outcome. Check it at Polytomic."
        mark_unknown(context, change, why, taken=SENDING)
        raise OutcomeNotRecorded(
            f"{answered}, but the audit log could not record the outcome: the request shows “Sent — outcome "
            "not known” until someone checks it at Polytomic."
        ) from None
