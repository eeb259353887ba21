from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from orgadmin import __version__
from orgadmin.models import ChangeRequest
from staff.roles import role_of


def portal(request: HttpRequest) -> dict[str, object]:
    """What the page shell shows on every page: the signed-in user's role and the portal version.

    Error pages can be rendered before AuthenticationMiddleware has set `request.user`.
    """
    user = getattr(request, "user", None)
    return {
        "portal_role": role_of(user) if user is not None else None,
        "portal_version": __version__,
        "portal_identity_provider": settings.PORTAL_OIDC_LABEL if settings.PORTAL_OIDC_ISSUER else "",
        "portal_four_eyes": settings.PORTAL_FOUR_EYES,
        # Counted only where a page shows it, once.
        "portal_changes_waiting": functools.cache(lambda: _changes_waiting(user)),
    }


def _changes_waiting(user) -> int | None:
    """For an approver, the change requests of others waiting for a decision or a check at
    Polytomic (one query); None for anyone else."""
    if user is None or not user.is_authenticated or not user.has_perm("orgadmin.approve_change_request"):
        return None
    now = timezone.now()
    return (
        ChangeRequest.objects.filter(ChangeRequest.waiting_q(now) | ChangeRequest.outcome_unknown_q(now))
        .exclude(requested_by=user)
        .count()
    )
