"""Deployment checks of staff sign-in (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register(deploy=True)
def sign_in_is_strong(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    if settings.PORTAL_LOCAL_SIGNIN and not settings.PORTAL_REQUIRE_MFA:
        problems.append(
            Warning(
                "PORTAL_REQUIRE_MFA is off: a local account signs in with its password alone, and that one "
                "password can change every customer's single sign-on.",
                hint="Leave PORTAL_REQUIRE_MFA on, or turn local sign-in off (PORTAL_LOCAL_SIGNIN=false).",
                id="staff.W001",
            )
        )
    issuer = settings.PORTAL_OIDC_ISSUER
    if issuer and urlsplit(issuer).scheme != "https":
        problems.append(
            Error(
                f"OIDC_ISSUER ({issuer}) is not an https:// URL: the identity provider's keys and answers would "
                "travel unprotected.",
                id="staff.E001",
            )
        )
    if issuer and not any(settings.PORTAL_OIDC_ROLE_GROUPS.values()):
        problems.append(
            Warning(
                "OIDC_ISSUER is set but no group gives a role (OIDC_VIEWER_GROUPS, OIDC_EDITOR_GROUPS, "
                "OIDC_ADMIN_GROUPS): nobody can sign in through the identity provider.",
                id="staff.W002",
            )
        )
    return problems
