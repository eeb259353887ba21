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
                f"PORTAL_OIDC_ISSUER ({issuer}) is not an https:// URL: the identity provider's keys and answers would "
                "travel unprotected.",
                id="staff.E001",
            )
        )
    if issuer and not any(settings.PORTAL_OIDC_ROLE_GROUPS.values()):
        problems.append(
            Warning(
                "PORTAL_OIDC_ISSUER is set but no group gives a role (PORTAL_OIDC_VIEWER_GROUPS, "
                "PORTAL_OIDC_EDITOR_GROUPS, PORTAL_OIDC_ADMIN_GROUPS): nobody can sign in through the identity "
                "provider.",
                id="staff.W002",
            )
        )
    return problems


# Caches whose entries live in one process (or one machine's files): each gunicorn worker, or each
# instance, would keep its own count of wrong second-factor codes and its own list of used ones.
UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache": "each worker process's memory",
    "django.core.cache.backends.dummy.DummyCache": "nowhere (it keeps nothing)",
    "django.core.cache.backends.filebased.FileBasedCache": "one machine's files",
}


@register(deploy=True)
def sign_in_protections_are_shared(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or backend not in UNSHARED_CACHES:
        return []
    return [
        Warning(
            f"CACHE_URL keeps the cache in {UNSHARED_CACHES[backend]}: the limit on wrong second-factor codes "
            "counts per worker and restarts at zero with it, and a used authenticator-app code is accepted again "
            "by another worker.",
            hint="Unset CACHE_URL (a table of the database, the default) or point it at Redis (redis://...).",
            id="staff.W003",
        )
    ]


@register(deploy=True)
def trusted_proxies_are_named(app_configs: Any, **kwargs: Any) -> list[Warning]:
    if settings.PORTAL_TRUSTED_PROXY_COUNT > 0 and not settings.PORTAL_TRUSTED_PROXY_NETWORKS:
        return [
            Warning(
                "PORTAL_TRUSTED_PROXY_COUNT is set but PORTAL_TRUSTED_PROXY_NETWORKS is empty: anyone who reaches "
                "gunicorn directly can set X-Forwarded-For (the address sign-in throttling and the audit log see) and "
                "X-Request-ID.",
                hint="Set PORTAL_TRUSTED_PROXY_NETWORKS to the addresses the load balancer connects from.",
                id="staff.W004",
            )
        ]
    return []
