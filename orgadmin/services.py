"""What the portal changes at Polytomic. Views call these for writes (and `selectors` for reads).

Each takes the `AuditContext` of the request and the key of the form that asked, from which it
derives the call's Idempotency-Key; failures arrive as the client's exceptions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin import outcomes
from orgadmin.models import ApiKeyFormToken
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import (
    PolytomicError,
    PolytomicNotFound,
    PolytomicOutcomeUnknown,
    PolytomicValidationError,
)
from orgadmin.polytomic.fields import Organization, OrganizationInput
from orgadmin.polytomic.people import ApiKey, User


def organization_create(*, context: AuditContext, data: OrganizationInput, form_key: str) -> Organization:
    key = idempotency_key(form_key=form_key, action=AuditEntry.Action.CREATE, body=data.body())
    return organization_create_keyed(context=context, data=data, key=key)


def organization_create_keyed(*, context: AuditContext, data: OrganizationInput, key: str) -> Organization:
    """Creates the organization with the Idempotency-Key `key`. Its answer lost, a read finds out
    at once whether it was made; refused because its name is taken, the name may be taken by what
    an earlier create of unknown outcome made (orgadmin/outcomes.py): that organization is the
    result, not a conflict."""
    try:
        return client().create_organization(data, idempotency_key=key, context=context)
    except PolytomicOutcomeUnknown as lost:
        return _made_after_all(lost, lambda: outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.CREATE, request_id=context.request_id, idempotency_key=key
        ))  # fmt: skip
    except PolytomicValidationError as refused:
        made = None if "name" not in refused.field_errors else outcomes.made_by_an_earlier_create(
            context=context, name=data.name.strip()
        )  # fmt: skip
        if made is None:
            raise
        return made


def organization_update(
    *, context: AuditContext, organization_id: UUID, data: OrganizationInput, form_key: str
) -> Organization:
    """Replaces the organization's name and its whole SSO/OIDC configuration with `data`."""
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.UPDATE, target=str(organization_id), body=data.body()
    )
    try:
        return client().update_organization(organization_id, data, idempotency_key=key, context=context)
    except PolytomicOutcomeUnknown as lost:  # its answer lost: a read finds out at once whether it was made
        return _made_after_all(lost, lambda: outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.UPDATE, request_id=context.request_id, idempotency_key=key
        ))  # fmt: skip


def _made_after_all(lost: PolytomicOutcomeUnknown, find: Callable[[], outcomes.Finding | None]) -> Organization:
    """The organization a write whose answer was `lost` made, when a read (`find`) shows it done;
    otherwise its outcome stays unknown, and `lost` is raised again. After no answer in time, no
    read is made at once: the page would wait as long again (the next page that shows it reads)."""
    finding = None if lost.slow else find()
    if finding is None or not finding.done or finding.organization is None:
        raise lost
    return finding.organization


def organization_delete(*, context: AuditContext, organization_id: UUID, organization_name: str = "") -> None:
    """Deletes the organization. No Idempotency-Key: Polytomic's guide sets none on DELETE, and a
    repeated delete answers 404, which the pages read as "already deleted" (PolytomicNotFound) once a
    fresh read answers 404 too: a 404 to a DELETE of an organization Polytomic still has deleted
    nothing, and raises PolytomicError saying so."""
    try:
        client().delete_organization(organization_id, context=context, organization_name=organization_name)
    except PolytomicOutcomeUnknown as lost:  # its answer lost: a read finds out at once whether it was done
        finding = None if lost.slow else outcomes.resolve_at_once(
            context=context, action=AuditEntry.Action.DELETE, organization_id=str(organization_id),
            request_id=context.request_id,
        )  # fmt: skip
        if finding is None or not finding.done:
            raise
    except PolytomicNotFound as not_found:
        try:
            client().get_organization(organization_id, context=context)
        except PolytomicNotFound:
            raise not_found from None
        raise PolytomicError(
            "Polytomic answered the delete with “not found”, yet still has the organization: nothing was deleted. "
            "Try again in a moment.",
            status=not_found.status,
        ) from None


# A customer organization's people -----------------------------------------------------------------


def user_invite(
    *, context: AuditContext, organization_id: UUID, email: str, role_ids: list[str], form_key: str
) -> User:
    """Invites a user, who gets Polytomic's invitation email, with the roles given."""
    body = {"email": email, "role_ids": role_ids}
    key = idempotency_key(
        form_key=form_key, action=AuditEntry.Action.USER_INVITE, target=str(organization_id), body=body
    )
    return client().invite_user(organization_id, email=email, role_ids=role_ids, idempotency_key=key, context=context)


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


def idempotency_key(*, form_key: str, action: str, target: str = "", body: dict | None = None) -> str:
    """The Idempotency-Key of one submission of a form: the form's own key, plus a keyed digest
    of what is done to what (the action, the organization, exactly the body sent).

    Resubmitting the same form with the same values (after a timeout, say) reuses the key, so
    Polytomic replays its first answer instead of acting twice. Anything else gets a key of its
    own: a corrected submission (Polytomic replays a key's first outcome, errors included, for a
    day), and the same form key used on another organization. The digest is keyed with
    SECRET_KEY, so the key reveals nothing of the client secret inside the body.
    """
    material = json.dumps([action, target, body], sort_keys=True).encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), material, hashlib.sha256).hexdigest()[:24]
    return f"{form_key}-{digest}"
