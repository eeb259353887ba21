"""What the portal accepts in an organization's fields, checked before anything is sent.

Nothing public states formats for these fields: these are the portal's own policy, sensible
for single sign-on (an https issuer, a bare domain, the OIDC fields all or none). The sandbox
checks its own version of them, written apart, so that tests against it are not the portal
agreeing with itself.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from orgadmin import issuer_check
from orgadmin.polytomic.fields import Kind, Section, in_section

OIDC_FIELDS = tuple(field.name for field in in_section(Section.OIDC))

_BARE_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


def checked(kind: Kind, value: str) -> tuple[str, str]:
    """A non-blank value of a field of `kind` as it is sent, and what is wrong with it ("" if
    nothing)."""
    if kind is Kind.DOMAIN:
        value = value.lower()
        if not is_bare_domain(value):
            return value, "Enter a bare domain such as example.com: no https://, @, port or path."
    if kind is Kind.HTTPS_URL and not is_https_url(value):
        return value, "Enter an https:// URL, such as https://example.okta.com."
    return value, ""


def is_bare_domain(value: str) -> bool:
    """A domain such as `example.com`: no scheme, user, port, path or trailing dot."""
    return bool(_BARE_DOMAIN.match(value))


def is_https_url(value: str) -> bool:
    """An `https://` URL with a host, no credentials, and no white space or control character
    anywhere (urlsplit would quietly drop a tab, and the value sent would still hold it); its
    port, if any, a number from 1 to 65535 and its host one a resolver takes, as the issuer
    check reads them."""
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in value):
        return False
    try:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.username is not None:
            return False
        issuer_check.target(value)
    except (ValueError, issuer_check.Refused):
        return False
    return True


def missing_oidc_fields(values: dict[str, str | None]) -> list[str]:
    """The OIDC fields left out when some are given: the three go together or not at all."""
    given = [name for name in OIDC_FIELDS if values.get(name)]
    return [name for name in OIDC_FIELDS if not values.get(name)] if given else []
