"""What every step of a change request's life shares: its errors, the new status and the audit
entry each step ends with (one transaction), the mark of a send whose outcome is not known, why a
request can no longer be decided, and the sealing of its client secret."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.db.models import Q

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.models import ChangeRequest
from orgadmin.organizations import lock
from orgadmin.polytomic.fields import SECRETS
from orgadmin.polytomic.recording import mask_request_body
from staff.encryption import fernet

ENCRYPTION_PURPOSE = "orgadmin.change-request-secret"
logger = logging.getLogger(__name__)
Status = ChangeRequest.Status
# The longest a live sender takes after taking a request: its wait for another write of the
# organization (`lock.wait_seconds`), the fresh read and the write, each within the client's total
# timeout (POLYTOMIC_TOTAL_TIMEOUT), and this margin for the database.
SEND_MARGIN_SECONDS = 30


SENDING = Q(status=Status.EXECUTING)  # what the sender's last step may end


def send_deadline(now: datetime) -> datetime:
    seconds = lock.wait_seconds() + 2 * settings.POLYTOMIC_TOTAL_TIMEOUT + SEND_MARGIN_SECONDS
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


def mark_unknown(context: AuditContext, change: ChangeRequest, why: str, *, taken: Q) -> ChangeRequest:
    """The request as sent with its outcome not known, with a change.unknown entry when the log takes
    one. When it does not, the mark stands alone: the write's attempt is in the log already."""
    try:
        with transaction.atomic():
            if not ChangeRequest.objects.filter(taken, pk=change.pk).update(status=Status.UNKNOWN, result=why):
                raise ChangeRequestClosed(why_closed(change.pk, context))
            change.refresh_from_db()
            try:
                with transaction.atomic():
                    record_step(context, change, AuditEntry.Action.CHANGE_UNKNOWN, body={"why": why},
                            outcome=AuditEntry.Outcome.UNKNOWN)  # fmt: skip
            except AuditUnavailable:
                pass  # logged by audit.protocol.record
    except DatabaseError:  # the database itself is gone: the deadline marks it (outcome_unknown_q)
        logger.exception("Change request %s could not be marked as of unknown outcome", change.pk)
    return change


def void(context: AuditContext, change: ChangeRequest, why: str) -> ChangeRequest:
    return ended(context, change, Status.VOID, why, AuditEntry.Action.CHANGE_VOID, body={"why": why})


def failed(context: AuditContext, change: ChangeRequest, message: str) -> ChangeRequest:
    """Polytomic failed (its call is in the log): the request stays open for the approver to send again."""
    return ended(context, change, Status.FAILED, message, AuditEntry.Action.CHANGE_EXECUTE,
                  body={"sends": change.sends, "failed": message}, outcome=AuditEntry.Outcome.FAILED)  # fmt: skip


def ended(
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
            raise ChangeRequestClosed(why_closed(change.pk, context))
        change.refresh_from_db()
        record_step(context, change, action, body=body, outcome=outcome)
    return change


def why_closed(change_request_id: int, context: AuditContext) -> str:
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


def record_step(
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
            # The customer's submission through a setup link names its link (orgadmin/setup_links/).
            **({"setup_link": change.summary.get("setup_link")} if change.kind == ChangeRequest.Kind.SETUP else {}),
            **body,
        },
        outcome=outcome,
        attempts=0,
        change_request_id=change.pk,
    )


def masked(change: ChangeRequest) -> dict[str, Any]:
    """The body as the audit log keeps one: a secret only as whether it is there."""
    body = {**change.body, **dict.fromkeys([name for name in SECRETS if change.secret], "[set]")}
    return {"body": mask_request_body(body) if body else None}


def joined(secrets: dict[str, str]) -> bytes:
    return json.dumps(secrets).encode()


def secret_values(change: ChangeRequest) -> dict[str, str]:
    if not change.secret:
        return {}
    return json.loads(fernet(ENCRYPTION_PURPOSE).decrypt(change.secret.encode()))
