"""What the people pages change at Polytomic (invite, roles, remove, a new API key), and the
single-use tokens of the API key form.

Each write takes the `AuditContext` of the request and (but a delete) the key of the form that
asked, from which it derives the call's Idempotency-Key; failures arrive as the client's
exceptions.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.idempotency import idempotency_key
from orgadmin.models import ApiKeyFormToken
from orgadmin.polytomic.client import client
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
