"""What Polytomic accepts in an organization's fields, checked before anything is sent.

Nothing public states formats for these fields (shared/polytomic-api.md); these are the rules the
real service is likely to enforce, and the sandbox enforces the same ones.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

OIDC_FIELDS = ("issuer", "client_id", "client_secret")

_BARE_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


def is_bare_domain(value: str) -> bool:
    """A domain such as `example.com`: no scheme, user, port, path or trailing dot."""
    return bool(_BARE_DOMAIN.match(value))


def is_https_url(value: str) -> bool:
    """An `https://` URL with a host and no credentials in it."""
    try:
        parts = urlsplit(value)
        return parts.scheme == "https" and bool(parts.hostname) and parts.username is None and " " not in value
    except ValueError:
        return False


def missing_oidc_fields(values: dict[str, str | None]) -> list[str]:
    """The OIDC fields left out when some are given: the three go together or not at all."""
    given = [name for name in OIDC_FIELDS if values.get(name)]
    return [name for name in OIDC_FIELDS if not values.get(name)] if given else []
