"""An issuer's URL taken apart into what the check connects to and sends (`Target`): the scheme,
the host in ASCII (an address, or a host name as the resolver takes it), the port (a number from
1 to 65535, the scheme's own when none is given) and the path, percent-encoded as a client sends
it. Where the check may go is the address policy's (`orgadmin.issuer_check.policy`)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from requests.utils import requote_uri

from orgadmin.issuer_check.refusals import Refused, shown

MALFORMED = "The issuer's URL is not a well-formed URL."
BAD_PORT = "The issuer's URL has a port that is not a number from 1 to 65535."
NOT_HTTPS = "The issuer must be an https:// URL."
DEFAULT_PORTS = {"https": 443, "http": 80}
# A host name as the resolver takes it, once in ASCII (IDNA): letters, digits, hyphens and
# underscores in dot-separated labels of 1 to 63 characters, 253 at most in all.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*\.?")


@dataclass(frozen=True)
class Target:
    """A URL taken apart into what the check connects to and sends."""

    scheme: str
    host: str  # in ASCII: an address, or a host name in IDNA
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # when the host is an address
    port: int
    path: str  # with the query, percent-encoded as a client sends it

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{netloc(self.host, self.port, default=None)}"

    @property
    def host_header(self) -> str:
        return netloc(self.host, self.port, default=DEFAULT_PORTS[self.scheme])


def refuse_query_or_fragment(issuer: str) -> None:
    # OpenID Connect Discovery 1.0, section 3: an issuer has "no query or fragment components".
    try:
        parts = urlsplit(issuer)
    except ValueError:
        raise Refused(MALFORMED) from None
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise Refused("An issuer URL has no query (?) or fragment (#): OpenID Connect Discovery forbids them.")


def parse(url: str) -> Target:
    """`url` taken apart, http or https; Refused, saying what is wrong, if it cannot be."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed `[`, a bracketed host that is no IPv6 address, ...
        raise Refused(MALFORMED) from None
    try:
        port = parts.port
    except ValueError:  # out of range, or not a number
        raise Refused(BAD_PORT) from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS:
        raise Refused(NOT_HTTPS)
    if not host or parts.username is not None or parts.password is not None:
        raise Refused("The issuer's URL has no host, or carries credentials.")
    if port == 0:
        raise Refused(BAD_PORT)
    try:  # percent-encoded as a client does (a space, a letter beyond ASCII)
        path = requote_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    except UnicodeError:  # a lone surrogate: no character at all
        raise Refused(MALFORMED) from None
    address = address_of(host)
    return Target(
        scheme=scheme,
        host=str(address) if address is not None else ascii_host_name(host),
        address=address,
        port=port or DEFAULT_PORTS[scheme],
        path=path,
    )


def address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` is, or None when it is a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def netloc(host: str, port: int, *, default: int | None) -> str:
    """`host:port` as a URL spells it: an IPv6 address in brackets, the port left out when it is
    `default`."""
    spelt = f"[{host}]" if ":" in host else host
    return spelt if port == default else f"{spelt}:{port}"


def ascii_host_name(host: str) -> str:
    """`host` as the resolver takes it (IDNA); Refused if it is no host name."""
    try:
        encoded = host.encode("idna").decode("ascii").lower()  # as socket.getaddrinfo encodes it
    except UnicodeError:  # an empty label or one over 63 characters, a lone surrogate, ...
        encoded = ""
    if not _HOST_NAME.fullmatch(encoded):
        raise Refused(f"The issuer's host “{shown(host)}” is not a valid host name.")
    return encoded
