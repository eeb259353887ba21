"""Finding out at Polytomic what came of a change request sent whose outcome is not known: the
organization is read and compared with the change and with the organization before; and the
requests still unknown, for `verify_audit`'s report."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from uuid import UUID

from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import PORTAL, AuditContext, AuditUnavailable
from orgadmin import outcomes
from orgadmin.change_requests.steps import (
    ChangeRequestClosed,
    Status,
    StillUnknown,
    ended,
    mark_unknown,
)
from orgadmin.models import ChangeRequest
from orgadmin.organizations.services import organization_still_there
from orgadmin.polytomic.errors import MAY_HAVE_DONE_IT, PolytomicError
from orgadmin.polytomic.fields import BY_NAME, READABLE, Organization

# verify_audit's log, where its findings go (audit/management/commands/verify_audit.py).
verify_log = logging.getLogger("orgadmin.audit")


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


def resolve_unknown(*, context: AuditContext = PORTAL) -> list[ChangeRequest]:
    """Checks at Polytomic every request whose outcome is not known (the expire command runs it,
    so that none stays so, with its secret, after a whole portal stopped); the requests as they end."""
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
        change = resolve(context, change, taken=ChangeRequest.outcome_unknown_q())
    except AuditUnavailable:
        raise StillUnknown(
            "The audit log could not record what was found, so the request stays “Sent — outcome not known”. "
            "Try again in a moment."
        ) from None
    if change.status == Status.UNKNOWN:
        raise StillUnknown(change.result)
    return change


def resolve(
    context: AuditContext, change: ChangeRequest, *, taken: Q, answered: str = "", lost: bool = False
) -> ChangeRequest:
    """Reads the organization and ends the request by what is found (`_finding`), with a
    change.check entry naming the people and the finding; marks it unknown if Polytomic cannot be
    read, or if the change is not seen done while it may still land (`_may_still_land`)."""
    calls = dataclasses.replace(context, change_request_id=change.pk)
    lead = f"{answered}. " if answered else ""
    try:  # a 404 to a DELETE, too, counts only as this read finds it (`organization_still_there`)
        current = organization_still_there(context=calls, organization_id=UUID(change.organization_id))
    except (PolytomicError, AuditUnavailable) as exc:  # the log refusing the read: its answer unused
        why = f"{lead}Polytomic could not be read to find out what came of it: {exc.message}"
        if change.status == Status.UNKNOWN:  # marked already: nothing new to record
            raise StillUnknown(f"Still not known: {why}") from None
        return mark_unknown(context, change, why, taken=taken)
    status, found, why = _finding(change, current)
    if status != Status.EXECUTED and _may_still_land(change, lost=lost):
        why = f"{lead}{MAY_HAVE_DONE_IT} Polytomic does not show the {change.kind} yet, and it may still land."
        if change.status == Status.UNKNOWN:
            raise StillUnknown(why)
        return mark_unknown(context, change, why, taken=taken)
    done = ended(
        context, change, status, lead + why, AuditEntry.Action.CHANGE_CHECK,
        body={"found": found, "status": status, "why": lead + why}, taken=taken,
    )  # fmt: skip
    _settle_its_writes(context, done)
    return done


def _may_still_land(change: ChangeRequest, *, lost: bool) -> bool:
    """A send whose answer was lost, or one marked unknown, may still land until its deadline."""
    sent_lately = change.send_deadline is not None and timezone.now() < change.send_deadline
    return (lost or change.status == Status.UNKNOWN) and sent_lately


def _settle_its_writes(context: AuditContext, change: ChangeRequest) -> None:
    """The request's writes of unknown outcome, settled by what its check found (a resolution entry
    each); the log refusing leaves them to `resolve_writes`."""
    with contextlib.suppress(AuditUnavailable):  # logged by audit.protocol.record
        outcomes.record_found(
            context=context, done=change.status == Status.EXECUTED, words=change.result, change_request_id=change.pk
        )


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
