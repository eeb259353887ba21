"""Settings of the browser's side of security: cookies, HTTPS and the response headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from portal.settings.base import DEBUG, env
from portal.settings.signin import PORTAL_OIDC_ISSUER


def _origin(url: str) -> str:
    """The scheme, host and port of a URL, as a Content Security Policy source."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- Cookies -------------------------------------------------------------------------------------

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# "__Host-": browsers accept these cookies only over HTTPS, for this host alone, on path "/", so
# neither a sibling subdomain nor plain HTTP can set or overwrite them.
if not DEBUG:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_SAMESITE = "Lax"

# --- HTTPS ---------------------------------------------------------------------------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)

# --- Response headers ----------------------------------------------------------------------------

SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        # Signing in and out with the identity provider posts a form here that redirects there.
        "form-action": [SELF, *([_origin(PORTAL_OIDC_ISSUER)] if PORTAL_OIDC_ISSUER else [])],
    },
}
