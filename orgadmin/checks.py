"""Deployment checks of the portal's own settings (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def issuer_check_stays_on_the_internet(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS:
        origins = ", ".join(settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS)
        return [
            Warning(
                f"PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS is set ({origins}): the OIDC issuer check may fetch from "
                "these services of this host (over plain http, if so named), which an operator's typed URL "
                "must never reach.",
                hint="Unset PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS: it is for the tests' and the demo's loopback "
                "identity providers.",
                id="orgadmin.W002",
            )
        ]
    return []
