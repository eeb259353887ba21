"""Asking for a change (an update or a delete) instead of sending it (one waiting request of a kind
per organization), withdrawing it (its requester), rejecting it, and expiring the requests past
their time."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import PORTAL, AuditContext
from orgadmin.change_requests import notify
from orgadmin.change_requests.steps import (
    ENCRYPTION_PURPOSE,
    ChangeRequestClosed,
    Status,
    joined,
    masked,
    record_step,
    why_closed,
)
from orgadmin.models import ChangeRequest
from orgadmin.organizations import lock
from orgadmin.polytomic.fields import SECRETS, Organization, OrganizationInput
from staff.encryption import fernet


class AlreadyWaiting(Exception):
    """The organization has a request of this kind waiting already: a second would be decided
    against the same organization, and the first one sent would void the other."""

    def __init__(self, change: ChangeRequest) -> None:
        super().__init__(f"Change request {change.pk} of this kind waits already.")
        self.change = change


def request_update(
    *, context: AuditContext, organization: Organization, data: OrganizationInput, summary: dict, reason: str
) -> ChangeRequest:
    body, secret = _sealed(data)
    return _request(
        context=context, organization=organization, kind=ChangeRequest.Kind.UPDATE, body=body, summary=summary,
        reason=reason, secret=secret,
    )  # fmt: skip


def request_setup(
    *, context: AuditContext, requested_by: object, organization: Organization, data: OrganizationInput,
    summary: dict, reason: str,
) -> ChangeRequest:  # fmt: skip
    """The OIDC a customer entered through a setup link (`orgadmin.setup_links`), asked for in the
    name of the link's maker (`requested_by`), who therefore cannot decide it; the entries name the
    customer (`context`)."""
    body, secret = _sealed(data)
    return _request(
        context=context, organization=organization, kind=ChangeRequest.Kind.SETUP, body=body, summary=summary,
        reason=reason, secret=secret, requested_by=requested_by,
    )  # fmt: skip


def _sealed(data: OrganizationInput) -> tuple[dict, str]:
    """The body a PUT sends without its secrets, and the secrets encrypted ("" if none)."""
    body = data.body()
    secrets = {name: body.pop(name) for name in SECRETS if name in body}
    return body, fernet(ENCRYPTION_PURPOSE).encrypt(joined(secrets)).decode() if secrets else ""


def request_delete(*, context: AuditContext, organization: Organization, reason: str) -> ChangeRequest:
    return _request(
        context=context, organization=organization, kind=ChangeRequest.Kind.DELETE, body={}, summary={},
        reason=reason, secret="",
    )  # fmt: skip


def _request(*, context: AuditContext, organization: Organization, kind: str, body: dict, summary: dict,
             reason: str, secret: str, requested_by: object = None) -> ChangeRequest:  # fmt: skip
    """Records the request, unless one of its kind waits already (AlreadyWaiting). The look and
    the record are made under the organization's write lock (`orgadmin.organizations.lock`,
    `Busy` past its wait), its transaction committed before the lock is let go: of two requests
    asked at once, the second sees the first. The pages that ask hold the lock already (it is
    taken again, as a lock of the same session or thread is). The requester is the context's actor
    unless `requested_by` names another (a setup link's maker)."""
    with lock.held(organization.id), transaction.atomic():
        waiting = ChangeRequest.objects.filter(ChangeRequest.waiting_q(), organization_id=organization.id, kind=kind)
        if first := waiting.order_by("requested_at", "pk").first():
            raise AlreadyWaiting(first)
        change = ChangeRequest.objects.create(
            organization_id=organization.id,
            organization_name=organization.name,
            kind=kind,
            body=body,
            organization_state=organization.values(),
            summary=summary,
            reason=reason,
            secret=secret,
            requested_by=requested_by or context.actor,
            expires_at=timezone.now() + timedelta(hours=settings.PORTAL_CHANGE_REQUEST_HOURS),
        )
        record_step(context, change, AuditEntry.Action.CHANGE_REQUEST, body={**masked(change), "reason": reason})
        notify.waiting(change)
    return change


def withdraw(*, context: AuditContext, change_request_id: int) -> ChangeRequest:
    """Its requester withdraws a request still waiting: nothing is sent, its secret is erased.
    Nobody decided it, so it names no decider."""
    with transaction.atomic():
        taken = ChangeRequest.objects.filter(
            ChangeRequest.waiting_q(), pk=change_request_id, requested_by=context.actor
        ).update(status=Status.WITHDRAWN, secret="")
        if not taken:
            raise ChangeRequestClosed(_why_not_withdrawn(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        record_step(context, change, AuditEntry.Action.CHANGE_WITHDRAW, body={})
    return change


def _why_not_withdrawn(change_request_id: int, context: AuditContext) -> str:
    change = ChangeRequest.objects.filter(pk=change_request_id).first()
    if change is None:
        return "There is no such change request."
    if change.requested_by_id != getattr(context.actor, "pk", None):
        return "Only its requester can withdraw a change request."
    return f"This change request can no longer be withdrawn: {change.status_shown.lower()}."


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
            raise ChangeRequestClosed(why_closed(change_request_id, context))
        change = ChangeRequest.objects.get(pk=change_request_id)
        record_step(context, change, AuditEntry.Action.CHANGE_REJECT, body={"comment": comment})
        notify.decided(change)
    return change


def expire_due(*, context: AuditContext = PORTAL) -> int:
    """Expires the open requests past their time, erasing their secrets; the number expired."""
    expired = 0
    now = timezone.now()
    for change_id in ChangeRequest.objects.filter(status__in=ChangeRequest.OPEN, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            if ChangeRequest.objects.filter(pk=change_id, status__in=ChangeRequest.OPEN).update(
                status=Status.EXPIRED, secret=""
            ):
                record_step(context, ChangeRequest.objects.get(pk=change_id), AuditEntry.Action.CHANGE_EXPIRE, body={})
                expired += 1
    return expired
