"""Checks a customer's OIDC issuer before it is saved: fetches `<issuer>/.well-known/openid-configuration`
and says whether it is reachable, is JSON, and names exactly the same issuer (a trailing slash or
a wrong tenant is the classic broken setup), with the host of its authorization endpoint for the
operator to recognise.

The portal fetches a URL an operator typed, so the fetch is kept from reaching anything but the
public internet (server-side request forgery): https only; the host's addresses, once resolved,
must all be public (`is_public`: no loopback, private, link-local, cloud metadata, shared,
reserved, deprecated or non-global range, and no IPv6 form that maps, translates or tunnels to
IPv4 unless it carries a public IPv4 address); the connection is made to one of those addresses,
and the address the socket actually connected to is checked again before anything is sent; no
redirect is followed; a small size cap.

One deadline (TIMEOUT_SECONDS) covers the whole fetch, whatever the peer does: the name is
resolved in a worker thread that the check stops waiting for at the deadline, the connection is
opened with the time left, and from the moment its socket exists the Polytomic client's deadline
watchdog (orgadmin/polytomic/transport.py) shuts it down at the deadline, so a TLS handshake,
status line, headers or body trickled a byte at a time end there too (a socket timeout alone
restarts at every byte). Checks are also capped, per user and in all, in Django's cache (shared by
every worker and instance when the cache is), so that checks can never hold the threads pages need:
one over the cap is refused at once.

PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS names loopback origins (`scheme://host:port`) the check may
reach, over https or plain http: the tests' and the demo's own identity providers, never
production. PORTAL_ISSUER_CHECK_CA_FILE replaces the system's certificate authorities.

Each check is recorded in the audit log (`issuer.check`), whatever it found or refused: not a call
to Polytomic, but the record of who made the portal fetch what belongs there too.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import json
import logging
import math
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection
from urllib3.exceptions import HTTPError

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.polytomic import transport

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")

TIMEOUT_SECONDS = 3.0
MAX_BYTES = 64 * 1024
WELL_KNOWN = "/.well-known/openid-configuration"
# A running check's slot expires on its own this long after it was taken, so that a worker that
# dies holding one cannot keep it: longer than any check can run.
SLOT_SECONDS = math.ceil(TIMEOUT_SECONDS) + 10
SLOT_KEY = "orgadmin:issuer-check:slot"
SHOWN_CHARS = 200  # of a host or a named issuer, in a message

TOO_LONG = f"The issuer took more than {TIMEOUT_SECONDS:g} seconds to answer; the check stops there."


class Refused(Exception):
    """The URL may not be fetched, or the fetch failed; `message` says why, for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class IssuerCheck:
    issuer: str
    reachable: bool = False
    valid_json: bool = False
    issuer_matches: bool = False
    authorization_host: str = ""
    problem: str = ""

    @property
    def passed(self) -> bool:
        return self.reachable and self.valid_json and self.issuer_matches and bool(self.authorization_host)


def check_issuer(issuer: str, *, context: AuditContext) -> IssuerCheck:
    """Fetches the issuer's discovery document and compares; records one audit entry and never
    raises for what it finds or refuses (only AuditUnavailable, when that entry cannot be
    written)."""
    started = time.monotonic()
    url = issuer.rstrip("/") + WELL_KNOWN
    try:
        _refuse_query_or_fragment(issuer)
        with _running_check(context):
            status, body = fetch(url)
        result = _read(issuer, status, body)
    except Refused as exc:
        result = IssuerCheck(issuer=issuer, problem=exc.message)
    # As for a read of Polytomic's: no result is shown that no entry covers (AuditUnavailable).
    audit_protocol.record(
        context,
        action=AuditEntry.Action.ISSUER_CHECK,
        nothing_sent=False,
        what=f"the issuer check of {url}",
        method="GET",
        path=url[:500],
        request_body=None,
        response_status=None,
        response_body=_findings(result),
        outcome=AuditEntry.Outcome.OK if result.passed else AuditEntry.Outcome.FAILED,
        error_message=result.problem,
        duration_ms=int((time.monotonic() - started) * 1000),
        attempts=1,
    )
    return result


def _refuse_query_or_fragment(issuer: str) -> None:
    # OpenID Connect Discovery 1.0, section 3: an issuer has "no query or fragment components".
    try:
        parts = urlsplit(issuer)
    except ValueError:
        raise Refused(MALFORMED) from None
    if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
        raise Refused("An issuer URL has no query (?) or fragment (#): OpenID Connect Discovery forbids them.")


# --- What the document says ------------------------------------------------------------------------


def _read(issuer: str, status: int, body: bytes) -> IssuerCheck:
    if status != 200:
        return IssuerCheck(
            issuer=issuer, reachable=True, problem=f"The issuer answered HTTP {status}, not its discovery document."
        )
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (nor UTF-8), or nested deeper than Python parses
        return IssuerCheck(issuer=issuer, reachable=True, problem="The issuer's discovery document is not JSON.")
    if not isinstance(document, dict):
        return IssuerCheck(
            issuer=issuer, reachable=True, problem="The issuer's discovery document is not a JSON object."
        )
    named = document.get("issuer")
    authorization_host = _host_of(document.get("authorization_endpoint"))
    if not isinstance(named, str):
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, authorization_host=authorization_host,
            problem="The discovery document names no issuer (its “issuer” is missing or not text): sign-in would fail.",
        )  # fmt: skip
    if named != issuer:
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, authorization_host=authorization_host,
            problem=f"The discovery document names the issuer “{_shown(named)}”, not “{issuer}”: sign-in would fail.",
        )  # fmt: skip
    if not authorization_host:  # REQUIRED (OpenID Connect Discovery 1.0, section 3)
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, issuer_matches=True,
            problem="The discovery document names no authorization endpoint that is a URL: sign-in would fail.",
        )  # fmt: skip
    return IssuerCheck(
        issuer=issuer, reachable=True, valid_json=True, issuer_matches=True, authorization_host=authorization_host
    )


def _host_of(endpoint: object) -> str:
    """The host of the document's authorization endpoint, "" when it has none that can be read."""
    if not isinstance(endpoint, str):
        return ""
    try:
        return _shown(urlsplit(endpoint).hostname or "")
    except ValueError:  # e.g. `http://[bad`
        return ""


def _shown(text: str) -> str:
    """`text` from a URL or a peer, fit for a message: cut short, and a lone surrogate (which no
    page or database can encode) written as its escape."""
    text = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- Where the check may go ----------------------------------------------------------------------

MALFORMED = "The issuer's URL is not a well-formed URL."
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
        return f"{self.scheme}://{_netloc(self.host, self.port, default=None)}"

    @property
    def host_header(self) -> str:
        return _netloc(self.host, self.port, default=_DEFAULT_PORTS[self.scheme])


_DEFAULT_PORTS = {"https": 443, "http": 80}
BAD_PORT = "The issuer's URL has a port that is not a number from 1 to 65535."


def target(url: str) -> Target:
    """`url` as the check would fetch it; Refused, saying what is wrong, if it cannot be."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed `[`, a bracketed host that is no IPv6 address, ...
        raise Refused(MALFORMED) from None
    try:
        port = parts.port
    except ValueError:  # out of range, or not a number
        raise Refused(BAD_PORT) from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS:
        raise Refused("The issuer must be an https:// URL.")
    if not host or parts.username is not None or parts.password is not None:
        raise Refused("The issuer's URL has no host, or carries credentials.")
    if port == 0:
        raise Refused(BAD_PORT)
    try:  # percent-encoded as a client does (a space, a letter beyond ASCII)
        path = requote_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    except UnicodeError:  # a lone surrogate: no character at all
        raise Refused(MALFORMED) from None
    address = _address(host)
    found = Target(
        scheme=scheme,
        host=str(address) if address is not None else ascii_host_name(host),
        address=address,
        port=port or _DEFAULT_PORTS[scheme],
        path=path,
    )
    if scheme != "https" and found.origin not in loopback_origins():
        raise Refused("The issuer must be an https:// URL.")
    return found


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _netloc(host: str, port: int, *, default: int | None) -> str:
    spelt = f"[{host}]" if ":" in host else host
    return spelt if port == default else f"{spelt}:{port}"


def ascii_host_name(host: str) -> str:
    """`host` as the resolver takes it (IDNA); Refused if it is no host name."""
    try:
        encoded = host.encode("idna").decode("ascii").lower()  # as socket.getaddrinfo encodes it
    except UnicodeError:  # an empty label or one over 63 characters, a lone surrogate, ...
        encoded = ""
    if not _HOST_NAME.fullmatch(encoded):
        raise Refused(f"The issuer's host “{_shown(host)}” is not a valid host name.")
    return encoded


def loopback_origins() -> frozenset[str]:
    """The loopback origins the setting names, spelt as `Target.origin` spells them (an entry
    that is no URL names none)."""
    origins = set()
    for configured in settings.PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS:
        with contextlib.suppress(ValueError):
            parts = urlsplit(configured.strip())
            scheme, host = parts.scheme.lower(), parts.hostname or ""
            address = _address(host)
            port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
            origins.add(f"{scheme}://{_netloc(str(address) if address is not None else host, port, default=None)}")
    return frozenset(origins)


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


def _allowed(found: Target, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public; or, for an origin the setting names, loopback and only loopback."""
    return _is_loopback(address) if found.origin in loopback_origins() else is_public(address)


# --- The fetch, within its deadline -------------------------------------------------------------


def fetch(url: str) -> tuple[int, bytes]:
    """GETs `url` from the public internet only, within TIMEOUT_SECONDS in all; its status and
    at most MAX_BYTES of its body."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    found = target(url)
    address = _public_address(found, deadline)
    with transport.deadline(max(0.0, deadline - time.monotonic())) as watched:
        try:
            answer = _get(found, address, timeout=max(0.001, deadline - time.monotonic()))
        except (OSError, HTTPError, HTTPException) as exc:
            if watched.passed or isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
                raise Refused(TOO_LONG) from None
            raise Refused(f"The issuer could not be reached ({type(exc).__name__}).") from None
        if watched.passed:  # what was read ended because the deadline shut the connection
            raise Refused(TOO_LONG)
    return answer


def _public_address(found: Target, deadline: float) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The first address of the host, once every address it resolves to is allowed."""
    addresses = [found.address] if found.address is not None else _resolve(found, deadline)
    for address in addresses:
        if not _allowed(found, address):
            raise Refused(
                f"The issuer's host “{_shown(found.host)}” resolves to {address}, which is not a public address."
            )
    return addresses[0]


@functools.cache
def _resolver() -> ThreadPoolExecutor:
    """The system's resolver takes no timeout: it runs here, and a check stops waiting for it at
    its deadline. As many threads as checks may run at once."""
    return ThreadPoolExecutor(
        max_workers=max(1, settings.PORTAL_ISSUER_CHECK_MAX_TOTAL), thread_name_prefix="issuer-check-resolver"
    )


def _resolve(found: Target, deadline: float) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    resolving = _resolver().submit(socket.getaddrinfo, found.host, found.port, type=socket.SOCK_STREAM)
    try:
        infos = resolving.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        resolving.cancel()
        raise Refused(TOO_LONG) from None
    except (OSError, UnicodeError):
        raise Refused(f"The issuer's host “{_shown(found.host)}” does not resolve.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise Refused(f"The issuer's host “{_shown(found.host)}” does not resolve.")
    return addresses


class _CheckedConnectionMixin:
    """A connection of the Polytomic client's kind (transport.WatchedHTTPConnection: under the
    fetch's deadline from the moment its socket exists, the TLS handshake included) that also
    checks the address it actually connected to before anything is sent."""

    target: Target

    def _new_conn(self) -> socket.socket:
        self.sock = sock = super()._new_conn()  # so that close() closes it if this raises
        peer = ipaddress.ip_address(sock.getpeername()[0])
        if peer != ipaddress.ip_address(self.host) or not _allowed(self.target, peer):
            raise Refused("The issuer's host connected to an address that is not public.")
        return sock


class _CheckedHTTPConnection(_CheckedConnectionMixin, transport.WatchedHTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, transport.WatchedHTTPSConnection):
    pass


def _get(found: Target, address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, timeout: float) -> tuple[int, bytes]:
    if found.scheme == "https":
        connection: HTTPConnection = _CheckedHTTPSConnection(
            str(address), found.port, timeout=timeout, server_hostname=found.host,
            ca_certs=settings.PORTAL_ISSUER_CHECK_CA_FILE,
        )  # fmt: skip
    else:
        connection = _CheckedHTTPConnection(str(address), found.port, timeout=timeout)
    connection.target = found
    try:
        connection.connect()
        connection.request(
            "GET",
            found.path,
            headers={"Host": found.host_header, "Accept": "application/json"},
            preload_content=False,  # read below, no further than the cap
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise Refused("The issuer redirected elsewhere; the check follows no redirect.")
        body = response.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise Refused("The issuer's discovery document is larger than the check reads.")
        return response.status, body
    finally:
        connection.close()


# --- How many checks run at once -----------------------------------------------------------------


@contextlib.contextmanager
def _running_check(context: AuditContext) -> Iterator[None]:
    """A slot for one more running check, the user's and the portal's, held while the block runs;
    Refused at once when either is full.

    A slot is a cache key taken with `add` (atomic in Django's database, Redis and Memcached
    caches; within one process in the local-memory one), released with `delete`, and expiring by
    itself after SLOT_SECONDS, so that a worker that dies holding one does not keep it."""
    per_user, in_all = settings.PORTAL_ISSUER_CHECK_MAX_PER_USER, settings.PORTAL_ISSUER_CHECK_MAX_TOTAL
    scopes = (
        (f"user:{_who(context)}", per_user,
         f"You already have {per_user} issuer checks running: wait for them to end, then check again."),
        ("all", in_all, f"{in_all} issuer checks are already running in the portal: try again in a few seconds."),
    )  # fmt: skip
    taken: list[str] = []
    try:
        for scope, limit, busy in scopes:
            slot = _take_slot(scope, limit)
            if slot is None:
                raise Refused(busy)
            taken.append(slot)
        yield
    finally:
        if taken:
            _release(taken)


def _who(context: AuditContext) -> str:
    if context.actor is not None:
        return str(context.actor.pk)
    return "label-" + hashlib.sha256(context.actor_username.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _take_slot(scope: str, limit: int) -> str | None:
    try:
        for index in range(limit):
            key = f"{SLOT_KEY}:{scope}:{index}"
            if cache.add(key, 1, timeout=SLOT_SECONDS):
                return key
    except Exception:  # each cache backend raises its own errors (database, Redis, ...)
        logger.exception("The issuer check could not count the checks running")
        raise Refused(
            "The portal could not count the issuer checks running (its cache did not answer), so it did not "
            "start this one."
        ) from None
    return None


def _release(keys: list[str]) -> None:
    try:
        cache.delete_many(keys)
    except Exception:  # as above; the slots expire by themselves
        logger.exception("The issuer check's slots could not be released; they expire in %s s", SLOT_SECONDS)


# --- The record ----------------------------------------------------------------------------------


def _findings(result: IssuerCheck) -> str:
    """What the check found, as its entry keeps it."""
    return json.dumps(
        {
            "reachable": result.reachable,
            "valid_json": result.valid_json,
            "issuer_matches": result.issuer_matches,
            "authorization_host": result.authorization_host,
        },
    )
