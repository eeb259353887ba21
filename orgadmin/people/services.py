"""What the people pages change at Polytomic (invite, one or many at once; roles, remove, a new
API key), and the single-use tokens of the API key form.

Each write takes the `AuditContext` of the request and (but a delete) the key of the form that
asked, from which it derives the call's Idempotency-Key; failures arrive as the client's
exceptions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.idempotency import idempotency_key
from orgadmin.models import ApiKeyFormToken
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicOutcomeUnknown, PolytomicValidationError
from orgadmin.polytomic.people import ApiKey, User


def user_invite(
    *, context: AuditContext, organization_id: UUID, email: str, role_ids: list[str], form_key: str
) -> User:
    """Invites a user, who gets Polytomic's invitation email, with the roles given."""
    body = {"email": email, "role_ids": role_ids}
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.USER_INVITE, target=str(organization_id), body=body
    )
    return client().invite_user(organization_id, email=email, role_ids=role_ids, idempotency_key=key, context=context)


@dataclass(frozen=True)
class InviteLine:
    """One line of a list of people to invite, as typed, and what became of it: invited, not
    invited (`reason` says why), or not known (no answer came back: they may have been invited)."""

    text: str
    invited: bool = False
    unknown: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Invites:
    lines: list[InviteLine]
    # The failure that stopped the list (Polytomic or the audit log failing), if one did.
    stopped_by: PolytomicError | AuditUnavailable | None = None

    @property
    def invited(self) -> list[InviteLine]:
        return [line for line in self.lines if line.invited]

    @property
    def unknown(self) -> list[InviteLine]:
        return [line for line in self.lines if line.unknown]

    @property
    def kept(self) -> list[InviteLine]:
        """The lines the form keeps for another try: all but those invited."""
        return [line for line in self.lines if not line.invited]


def users_invite(
    *,
    context: AuditContext,
    organization_id: UUID,
    lines: list[str],
    role_ids: list[str],
    form_key: str,
    members: Iterable[str],
) -> Invites:
    """Invites each line's email with the roles given: one call (and its audit entries) per line,
    each with its own Idempotency-Key (the form's key and that email), so a form submitted twice
    sends nothing twice. A line that is not an email, repeats an earlier one, or names one of
    the organization's `members` is refused without a call.

    Polytomic refusing a line (409, 422) concerns that line alone: the next ones are sent. Any
    other failure (no answer, an answer that is not one, 401/403/429/5xx, the audit log down)
    stops the list: it would most likely befall every line after it, and each unanswered call
    is one more outcome not known. The lines not sent are kept, marked so."""
    taken = {email.lower() for email in members}
    seen: set[str] = set()
    done: list[InviteLine] = []
    stopped_by: PolytomicError | AuditUnavailable | None = None
    for text in lines:
        email = text.lower()  # as Polytomic stores it
        if stopped_by is not None:
            done.append(InviteLine(text, reason=f"Not sent: {stopped_by.message}"))
        elif not _is_email(email):
            done.append(InviteLine(text, reason="Not an email address."))
        elif email in seen:
            done.append(InviteLine(text, reason="Listed twice: invited once, above."))
        elif email in taken:
            done.append(InviteLine(text, reason="Already in this organization."))
        else:
            seen.add(email)
            try:
                user_invite(
                    context=context, organization_id=organization_id, email=email, role_ids=role_ids, form_key=form_key
                )
            except (PolytomicError, AuditUnavailable) as exc:
                line, stops = _line_failure(text, exc)
                done.append(line)
                stopped_by = exc if stops else None
            else:
                done.append(InviteLine(text, invited=True))
    return Invites(done, stopped_by)


def _is_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= 254


def _line_failure(text: str, exc: PolytomicError | AuditUnavailable) -> tuple[InviteLine, bool]:
    """What a failed call makes of its line, and whether the list stops there."""
    if isinstance(exc, PolytomicValidationError) and exc.in_flight:  # this very key, sent just before
        reason = "Another submission of this form is inviting them right now: check the users list in a moment."
        return InviteLine(text, reason=reason), False
    if isinstance(exc, PolytomicValidationError):
        said = [*exc.field_errors.get("email", ()), *exc.non_field_errors]
        said += [m for name, messages in exc.field_errors.items() if name != "email" for m in messages]
        # A 422's message is often its field's too: said once.
        return InviteLine(text, reason=" ".join(dict.fromkeys(said)) or exc.message), False
    # Sent, and no readable answer says what came of it: perhaps invited. Anything else was not done.
    if isinstance(exc, PolytomicOutcomeUnknown) or (isinstance(exc, AuditUnavailable) and not exc.nothing_sent):
        return InviteLine(text, unknown=True, reason=exc.message), True
    return InviteLine(text, reason=exc.message), True


def user_update_roles(
    *, context: AuditContext, organization_id: UUID, user_id: UUID, email: str, role_ids: list[str], form_key: str
) -> User:
    body = {"email": email, "role_ids": role_ids}
    key = idempotency_key(form_key=form_key, action=AuditEntry.Action.USER_UPDATE, target=str(user_id), body=body)
    return client().update_user_roles(
        organization_id, user_id, email=email, role_ids=role_ids, idempotency_key=key, context=context
    )


def user_remove(*, context: AuditContext, organization_id: UUID, user_id: UUID) -> None:
    """Permanent. No Idempotency-Key (DELETE); a repeat answers 404, read as already removed."""
    client().delete_user(organization_id, user_id, context=context)


def user_create_api_key(
    *, context: AuditContext, organization_id: UUID, user_id: UUID, force: bool, form_key: str
) -> ApiKey:
    """A new key for the user; with `force`, the one they have is revoked first."""
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.USER_KEY, target=str(user_id), body={"force": force}
    )
    return client().create_api_key(organization_id, user_id, force=force, idempotency_key=key, context=context)


# A staff member's API key forms open at once (tabs): the oldest beyond these are forgotten.
API_KEY_FORMS_KEPT = 10


def api_key_form_token(*, staff: Any) -> str:
    """A token for one API key form; the staff member's used, expired and oldest tokens go."""
    now = timezone.now()
    kept = ApiKeyFormToken.objects.filter(
        staff=staff, used_at__isnull=True, issued_at__gte=now - _api_key_form_lifetime()
    ).order_by("-issued_at", "-id")
    ApiKeyFormToken.objects.filter(staff=staff).exclude(pk__in=kept.values("pk")[: API_KEY_FORMS_KEPT - 1]).delete()
    token = secrets.token_urlsafe(24)
    ApiKeyFormToken.objects.create(digest=_token_digest(token), staff=staff, issued_at=now)
    return token


def api_key_form_token_take(*, staff: Any, token: str) -> bool:
    """Whether the token was handed out to this staff member and not yet used; it is used up now.

    One guarded UPDATE: of requests that post the same token at once, the database lets exactly
    one change the row (on PostgreSQL the others wait for its commit, then find it used)."""
    now = timezone.now()
    return (
        ApiKeyFormToken.objects.filter(
            digest=_token_digest(token),
            staff=staff,
            used_at__isnull=True,
            issued_at__gte=now - _api_key_form_lifetime(),
        ).update(used_at=now)
        == 1
    )


def _api_key_form_lifetime() -> timedelta:
    """A form outlives no session: a token is good for a session's longest life."""
    return timedelta(seconds=settings.PORTAL_SESSION_MAX_AGE)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
