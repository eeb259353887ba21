"""Where the issuer check may go: https only, to the public internet only (server-side request
forgery). An address is public (`is_public`) when it is in no loopback, private, link-local, cloud
metadata, shared, reserved, deprecated or non-global range, and is no IPv6 form that maps,
translates or tunnels to IPv4 unless it carries a public IPv4 address.

PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS names loopback origins (`scheme://host:port`) the check may
reach, over https or plain http, and there loopback only: the tests' and the demo's own identity
providers, never production.
"""

from __future__ import annotations

import contextlib
import ipaddress
from urllib.parse import urlsplit

from django.conf import settings

from orgadmin.issuer_check.refusals import Refused
from orgadmin.issuer_check.targets import DEFAULT_PORTS, NOT_HTTPS, Target, address_of, netloc, parse

# IPv6 outside 2000::/3, the global unicast space, is never public (loopback, unspecified,
# IPv4-compatible ::/96, IPv4-translated ::ffff:0:0:0/96, discard-only, unique-local, link-local,
# deprecated site-local fec0::/10, multicast, local-use NAT64 64:ff9b:1::/48, ...), except the
# two forms that stand for an IPv4 address and are judged by it: IPv4-mapped ::ffff:0:0/96 and
# NAT64's well-known prefix 64:ff9b::/96 (RFC 6052).
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Inside 2000::/3: what IANA's special-purpose registry does not call globally reachable, and what
# tunnels to IPv4: the IETF protocol assignments (Teredo, 2001::/32, among them), documentation,
# 6to4 (2002::/16), the returned 6bone range.
_NOT_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(network) for network in ("2001::/23", "2001:db8::/32", "2002::/16", "3ffe::/16", "3fff::/20")
)
# IPv4 that Python's is_global still counts: the deprecated 6to4 relay anycast (RFC 7526).
_NOT_PUBLIC_V4 = (ipaddress.IPv4Network("192.88.99.0/24"),)
# An ISATAP interface identifier (RFC 5214), `0:5efe` or `200:5efe`, tunnels to the IPv4 address
# in the last 32 bits.
_ISATAP = 0x5EFE


def target(url: str) -> Target:
    """`url` as the check would fetch it; Refused, saying what is wrong, if it cannot be: plain
    http only for an origin the setting names."""
    found = parse(url)
    if found.scheme != "https" and found.origin not in loopback_origins():
        raise Refused(NOT_HTTPS)
    return found


def loopback_origins() -> frozenset[str]:
    """The loopback origins the setting names, spelt as `Target.origin` spells them (an entry
    that is no URL names none)."""
    origins = set()
    for configured in settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS:
        with contextlib.suppress(ValueError):
            parts = urlsplit(configured.strip())
            scheme, host = parts.scheme.lower(), parts.hostname or ""
            address = address_of(host)
            port = parts.port or DEFAULT_PORTS.get(scheme, 0)
            origins.add(f"{scheme}://{netloc(str(address) if address is not None else host, port, default=None)}")
    return frozenset(origins)


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A unicast address of the public internet, reached as itself: no IPv6 form that maps,
    translates or tunnels to an IPv4 address that is not public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address not in _GLOBAL_UNICAST or any(address in network for network in _NOT_PUBLIC_V6):
            return False
        if (int(address) >> 32) & 0xFDFFFFFF == _ISATAP:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return address.is_global
    return address.is_global and not address.is_multicast and not any(address in n for n in _NOT_PUBLIC_V4)


def _is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def allowed(found: Target, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the check of `found` may connect to `address`: a public one; or, for an origin the
    setting names, loopback and only loopback."""
    return _is_loopback(address) if found.origin in loopback_origins() else is_public(address)
