"""The names of the environment variables, where a name is not simply its setting's.

A variable is named as the setting it sets: `PORTAL_FOUR_EYES` sets `PORTAL_FOUR_EYES`,
`SECURE_HSTS_SECONDS` sets Django's `SECURE_HSTS_SECONDS`. The portal's own variables start with
`PORTAL_` (Polytomic's with `POLYTOMIC_`, the audit log's with `AUDIT_`); a framework's keep its name.
The exceptions are the two tables below, checked by tests/test_settings.py against the settings
and `.env.example`. gunicorn's variables (`PORT`, `GUNICORN_*`) are read by deploy/gunicorn.conf.py.
"""

from __future__ import annotations

# Variables named otherwise than the setting they set: by the usual convention (a URL for a
# database or a cache, a log level), or because they count in the unit people think in, which
# the setting does not take. Each maps to the setting it goes into.
NAMED_OTHERWISE = {
    "DATABASE_URL": "DATABASES",
    "CONN_MAX_AGE": "DATABASES",  # DATABASES["default"]["CONN_MAX_AGE"]
    "CACHE_URL": "CACHES",
    "EMAIL_URL": "EMAIL_BACKEND",  # and EMAIL_HOST, EMAIL_PORT, the account, TLS; PORTAL_MAIL_ON
    "LOG_LEVEL": "LOGGING",  # the root logger's level
    "PORTAL_SESSION_IDLE_MINUTES": "SESSION_COOKIE_AGE",  # Django's, in seconds
    "PORTAL_SESSION_MAX_HOURS": "PORTAL_SESSION_MAX_AGE",  # in seconds
    "PORTAL_SIGNIN_FAILURE_LIMIT": "AXES_FAILURE_LIMIT",
    "PORTAL_SIGNIN_COOLOFF_MINUTES": "AXES_COOLOFF_TIME",  # a timedelta
    "PORTAL_OIDC_CLIENT_ID": "SOCIALACCOUNT_PROVIDERS",
    "PORTAL_OIDC_CLIENT_SECRET": "SOCIALACCOUNT_PROVIDERS",
    "PORTAL_OIDC_SCOPES": "SOCIALACCOUNT_PROVIDERS",
    "PORTAL_OIDC_ADMIN_GROUPS": "PORTAL_OIDC_ROLE_GROUPS",
    "PORTAL_OIDC_EDITOR_GROUPS": "PORTAL_OIDC_ROLE_GROUPS",
    "PORTAL_OIDC_VIEWER_GROUPS": "PORTAL_OIDC_ROLE_GROUPS",
}

# The names variables had before they were named as their settings. Set by an old name, a
# variable would be read as unset and fall back to its default without a word (an unset
# TRUSTED_PROXY_COUNT takes every client to be the proxy), so an old name stops start-up with a
# message naming the new one (README, "Upgrading").
RENAMED = {
    "FOUR_EYES": "PORTAL_FOUR_EYES",
    "APPROVAL_FOR": "PORTAL_APPROVAL_FOR",
    "CHANGE_REQUEST_HOURS": "PORTAL_CHANGE_REQUEST_HOURS",
    "ISSUER_CHECK_LOOPBACK_ORIGINS": "PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS",
    "ISSUER_CHECK_MAX_PER_USER": "PORTAL_ISSUER_CHECK_MAX_PER_USER",
    "ISSUER_CHECK_MAX_TOTAL": "PORTAL_ISSUER_CHECK_MAX_TOTAL",
    "ISSUER_CHECK_CA_FILE": "PORTAL_ISSUER_CHECK_CA_FILE",
    "TRUSTED_PROXY_COUNT": "PORTAL_TRUSTED_PROXY_COUNT",
    "TRUSTED_PROXY_NETWORKS": "PORTAL_TRUSTED_PROXY_NETWORKS",
    "SESSION_IDLE_MINUTES": "PORTAL_SESSION_IDLE_MINUTES",
    "SESSION_MAX_HOURS": "PORTAL_SESSION_MAX_HOURS",
    "SIGNIN_FAILURE_LIMIT": "PORTAL_SIGNIN_FAILURE_LIMIT",
    "SIGNIN_USERNAME_FAILURE_LIMIT": "PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT",
    "SIGNIN_COOLOFF_MINUTES": "PORTAL_SIGNIN_COOLOFF_MINUTES",
    "RECENT_AUTHENTICATION_MINUTES": "PORTAL_RECENT_AUTHENTICATION_MINUTES",
    "OIDC_ISSUER": "PORTAL_OIDC_ISSUER",
    "OIDC_CLIENT_ID": "PORTAL_OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET": "PORTAL_OIDC_CLIENT_SECRET",
    "OIDC_SCOPES": "PORTAL_OIDC_SCOPES",
    "OIDC_LABEL": "PORTAL_OIDC_LABEL",
    "OIDC_GROUPS_CLAIM": "PORTAL_OIDC_GROUPS_CLAIM",
    "OIDC_ADMIN_GROUPS": "PORTAL_OIDC_ADMIN_GROUPS",
    "OIDC_EDITOR_GROUPS": "PORTAL_OIDC_EDITOR_GROUPS",
    "OIDC_VIEWER_GROUPS": "PORTAL_OIDC_VIEWER_GROUPS",
}
