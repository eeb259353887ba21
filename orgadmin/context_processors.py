from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from orgadmin import __version__
from orgadmin.roles import role_of


def portal(request: HttpRequest) -> dict[str, object]:
    """What the page shell shows on every page: the signed-in user's role and the portal version.

    Error pages can be rendered before AuthenticationMiddleware has set `request.user`.
    """
    user = getattr(request, "user", None)
    return {
        "portal_role": role_of(user) if user is not None else None,
        "portal_version": __version__,
        "portal_identity_provider": settings.PORTAL_OIDC_LABEL if settings.PORTAL_OIDC_ISSUER else "",
    }
