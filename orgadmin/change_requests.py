"""Four eyes: a change that can lock a customer out (PORTAL_APPROVAL_FOR) waits for a second
person before it is sent.

1. `request_update` / `request_delete`: instead of sending, the portal records a `ChangeRequest`:
   the exact body, the change summary as the requester confirmed it, the organization as it was,
   who asked and why, and when it expires; the typed client secret encrypted (`encryption`).
2. `approve`, by anyone who may approve but the requester (the database refuses a requester as
   decider, `change_request_decided_by_another`): a guarded UPDATE takes the request from open
   to executing, so two approvers at once send it once. The organization is read again: if it
   changed since the request, the request is void and nothing is sent; otherwise the stored body
   is sent, exactly, with an Idempotency-Key of this send, and the outcome recorded. Polytomic
   failing leaves the request failed, to be sent again.
3. `reject`; `expire_due` for requests past their time. A decided request's secret is erased
   (a failed one keeps it until it is sent, rejected or expires).

Every step is an audit entry naming both people, chained with the calls it leads to
(`change_request_id`); each step and its entry are one transaction, or neither.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.utils import timezone

from orgadmin import audit_log
from orgadmin.encryption import fernet
from orgadmin.models import AuditEntry, ChangeRequest
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import AuditUnavailable, PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import SECRETS, Organization, OrganizationInput
from orgadmin.polytomic.recording import AuditContext, mask_request_body
from orgadmin.services import idempotency_key

ENCRYPTION_PURPOSE = "orgadmin.change-request-secret"
logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")
Status = ChangeRequest.Status


class ChangeRequestClosed(Exception):
    """The request cannot be decided by this person now; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
        _record(context, change, AuditEntry.Action.CHANGE_REQUEST, body={**_masked(change), "reason": reason})
    return change


def approve(*, context: AuditContext, change_request_id: int, comment: str) -> ChangeRequest:
    """Takes the request (once, whoever clicks first), checks the organization did not change,
    and sends it. Returns the request as it ends: executed, failed or void."""
    now = timezone.now()
    with transaction.atomic():
        taken = (
            ChangeRequest.objects.filter(pk=change_request_id, status__in=ChangeRequest.OPEN, expires_at__gt=now)
            .exclude(requested_by=context.actor)
            .update(status=Status.EXECUTING, decided_by=context.actor, decided_at=now, comment=comment)
        )
        if not taken:
            raise ChangeRequestClosed(_why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        _record(context, change, AuditEntry.Action.CHANGE_APPROVE, body={"comment": comment})
    return _execute(context, change)


def reject(*, context: AuditContext, change_request_id: int, comment: str) -> ChangeRequest:
    with transaction.atomic():
        taken = (
            ChangeRequest.objects.filter(pk=change_request_id, status__in=ChangeRequest.OPEN)
            .exclude(requested_by=context.actor)
            .update(
                status=Status.REJECTED, decided_by=context.actor, decided_at=timezone.now(), comment=comment, secret=""
            )
        )
        if not taken:
            raise ChangeRequestClosed(_why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        _record(context, change, AuditEntry.Action.CHANGE_REJECT, body={"comment": comment})
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
                _record(context, ChangeRequest.objects.get(pk=change_id), AuditEntry.Action.CHANGE_EXPIRE, body={})
                expired += 1
    return expired


def _execute(context: AuditContext, change: ChangeRequest) -> ChangeRequest:
    """Sends the approved request, unless the organization changed since it was asked. No
    transaction is held across the calls to Polytomic."""
    calls = dataclasses.replace(context, change_request_id=change.pk)
    organization_id = UUID(change.organization_id)
    try:
        current = client().get_organization(organization_id, context=calls)
    except PolytomicNotFound:
        return _void(context, change, "The organization was deleted at Polytomic since the request.")
    except PolytomicError as exc:
        return _failed(context, change, f"The organization could not be read first, so nothing was sent. {exc.message}")
    if current.values() != change.organization_state:
        return _void(context, change, "The organization changed at Polytomic since the request: nothing was sent.")
    ChangeRequest.objects.filter(pk=change.pk).update(sends=change.sends + 1)
    change.sends += 1
    try:
        if change.kind == ChangeRequest.Kind.DELETE:
            client().delete_organization(organization_id, context=calls, organization_name=change.organization_name)
        else:
            data = OrganizationInput(**{**dict.fromkeys(SECRETS, ""), **change.body, **_secrets(change)})
            key = idempotency_key(
                form_key=f"changerequest{change.pk}x{change.sends}",
                action=AuditEntry.Action.UPDATE,
                target=change.organization_id,
                body=data.body(),
            )
            client().update_organization(organization_id, data, idempotency_key=key, context=calls)
    except PolytomicNotFound:
        if change.kind != ChangeRequest.Kind.DELETE:
            return _void(context, change, "The organization was deleted at Polytomic since the request.")
    except PolytomicError as exc:
        return _failed(context, change, exc.message)
    with transaction.atomic():
        ChangeRequest.objects.filter(pk=change.pk).update(status=Status.EXECUTED, secret="", result="Done.")
        change.refresh_from_db()
        _record(context, change, AuditEntry.Action.CHANGE_EXECUTE, body={"sends": change.sends})
    return change


def _void(context: AuditContext, change: ChangeRequest, why: str) -> ChangeRequest:
    with transaction.atomic():
        ChangeRequest.objects.filter(pk=change.pk).update(status=Status.VOID, secret="", result=why)
        change.refresh_from_db()
        _record(context, change, AuditEntry.Action.CHANGE_VOID, body={"why": why})
    return change


def _failed(context: AuditContext, change: ChangeRequest, message: str) -> ChangeRequest:
    """Polytomic failed (its call is in the log): the request stays open for the approver to send again."""
    with transaction.atomic():
        ChangeRequest.objects.filter(pk=change.pk).update(status=Status.FAILED, result=message)
        change.refresh_from_db()
        _record(context, change, AuditEntry.Action.CHANGE_EXECUTE, body={"sends": change.sends, "failed": message},
                outcome=AuditEntry.Outcome.FAILED)  # fmt: skip
    return change


def _why_closed(change_request_id: int, context: AuditContext) -> str:
    change = ChangeRequest.objects.filter(pk=change_request_id).first()
    if change is None:
        return "There is no such change request."
    if change.requested_by_id == getattr(context.actor, "pk", None):
        return "You asked for this change: another person must decide it."
    if change.status in ChangeRequest.OPEN:
        return "This change request has expired."
    return f"This change request is already decided: {change.get_status_display().lower()}."


def _record(
    context: AuditContext,
    change: ChangeRequest,
    action: str,
    *,
    body: dict[str, Any],
    outcome: str = AuditEntry.Outcome.OK,
) -> None:
    """An entry of the request's life, naming the requester and (when decided) the decider."""
    entry = AuditEntry(
        actor=context.actor,
        actor_username=context.actor_username,
        actor_signin=context.actor_signin or None,
        action=action,
        method="",
        path="",
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
        duration_ms=0,
        attempts=0,
        request_id=context.request_id,
        client_ip=context.client_ip,
        user_agent=context.user_agent,
        change_request_id=change.pk,
    )
    try:
        # On the step's own connection, in its transaction: the step and its entry commit
        # together, or neither (the caller's transaction rolls back on AuditUnavailable).
        audit_log.append(entry, using=DEFAULT_DB_ALIAS)
    except DatabaseError as exc:
        logger.exception("Audit entry of change request %s (%s) could not be written", change.pk, action)
        security_log.error(
            "The audit log could not record %s of change request %s by %s: %s",
            action, change.pk, context.actor_username or "-", type(exc).__name__,
        )  # fmt: skip
        raise AuditUnavailable(nothing_sent=True) from exc


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
