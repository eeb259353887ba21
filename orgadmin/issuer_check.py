"""Checks a customer's OIDC issuer before it is saved: fetches `<issuer>/.well-known/openid-configuration`
and says whether it is reachable, is JSON, and names exactly the same issuer (a trailing slash or
a wrong tenant is the classic broken setup), with the host of its authorization endpoint for the
operator to recognise.

The portal fetches a URL an operator typed, so the fetch is kept from reaching anything but the
public internet (server-side request forgery): https only; the host's addresses, once resolved,
must all be public (no loopback, private, link-local, cloud metadata, shared or reserved range);
the connection is made to one of those addresses, and the address the socket actually connected
to is checked again; no redirect is followed; a short timeout and a small size cap.
PORTAL_ISSUER_CHECK_ALLOW_LOOPBACK lets tests reach a loopback server (over https, or plain
http); PORTAL_ISSUER_CHECK_CA_FILE replaces the system's certificate authorities.

Each check is recorded in the audit log (`issuer.check`): not a call to Polytomic, but the record
of who made the portal fetch what belongs there too.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError

from orgadmin import audit_log
from orgadmin.models import AuditEntry
from orgadmin.polytomic.errors import AuditUnavailable
from orgadmin.polytomic.recording import AuditContext

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")

TIMEOUT_SECONDS = 3.0
MAX_BYTES = 64 * 1024
WELL_KNOWN = "/.well-known/openid-configuration"


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
        return self.reachable and self.valid_json and self.issuer_matches


def check_issuer(issuer: str, *, context: AuditContext) -> IssuerCheck:
    """Fetches the issuer's discovery document and compares; never raises for what it finds."""
    url = issuer.rstrip("/") + WELL_KNOWN
    started = time.monotonic()
    try:
        status, body = fetch(url)
        result = _read(issuer, status, body)
    except Refused as exc:
        result = IssuerCheck(issuer=issuer, problem=exc.message)
    _record(context, url, result, duration_ms=int((time.monotonic() - started) * 1000))
    return result


def _read(issuer: str, status: int, body: bytes) -> IssuerCheck:
    if status != 200:
        return IssuerCheck(
            issuer=issuer, reachable=True, problem=f"The issuer answered HTTP {status}, not its discovery document."
        )
    try:
        document = json.loads(body)
    except ValueError:
        return IssuerCheck(issuer=issuer, reachable=True, problem="The issuer's discovery document is not JSON.")
    if not isinstance(document, dict):
        return IssuerCheck(
            issuer=issuer, reachable=True, problem="The issuer's discovery document is not a JSON object."
        )
    named = document.get("issuer")
    authorization_host = urlsplit(str(document.get("authorization_endpoint") or "")).hostname or ""
    if named != issuer:
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, authorization_host=authorization_host,
            problem=f"The discovery document names the issuer “{named}”, not “{issuer}”: sign-in would fail.",
        )  # fmt: skip
    return IssuerCheck(
        issuer=issuer, reachable=True, valid_json=True, issuer_matches=True, authorization_host=authorization_host
    )


def fetch(url: str) -> tuple[int, bytes]:
    """GETs `url` from the public internet only; its status and at most MAX_BYTES of its body."""
    parts = urlsplit(url)
    allow_loopback = settings.PORTAL_ISSUER_CHECK_ALLOW_LOOPBACK
    if parts.scheme != "https" and not (allow_loopback and parts.scheme == "http"):
        raise Refused("The issuer must be an https:// URL.")
    host = parts.hostname
    if not host or parts.username or parts.password:
        raise Refused("The issuer's URL has no host, or carries credentials.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _public_address(host, port, allow_loopback=allow_loopback)
    connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    options = (
        {"server_hostname": host, "ca_certs": settings.PORTAL_ISSUER_CHECK_CA_FILE} if parts.scheme == "https" else {}
    )
    connection = connection_class(address, port, timeout=TIMEOUT_SECONDS, **options)
    try:
        connection.connect()
        peer = connection.sock.getpeername()[0]
        if peer != address or not _allowed(ipaddress.ip_address(peer), allow_loopback=allow_loopback):
            raise Refused("The issuer's host connected to an address that is not public.")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(
            "GET",
            path,
            headers={"Host": parts.netloc.rpartition("@")[2], "Accept": "application/json"},
            preload_content=False,  # read below, no further than the cap
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise Refused("The issuer redirected elsewhere; the check follows no redirect.")
        body = response.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise Refused("The issuer's discovery document is larger than the check reads.")
        return response.status, body
    except (OSError, HTTPError) as exc:
        raise Refused(f"The issuer could not be reached ({type(exc).__name__}).") from None
    finally:
        connection.close()


def _public_address(host: str, port: int, *, allow_loopback: bool) -> str:
    """The first address of `host`, once every address it resolves to is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise Refused(f"The issuer's host “{host}” does not resolve.") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if not _allowed(ipaddress.ip_address(address), allow_loopback=allow_loopback):
            raise Refused(f"The issuer's host “{host}” resolves to {address}, which is not a public address.")
    return addresses[0]


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> bool:
    """A public unicast address (or loopback, where the setting lets tests use it)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def _record(context: AuditContext, url: str, result: IssuerCheck, *, duration_ms: int) -> None:
    entry = AuditEntry(
        actor=context.actor,
        actor_username=context.actor_username,
        actor_signin=context.actor_signin or None,
        correlation_id=context.correlation_id,
        action=AuditEntry.Action.ISSUER_CHECK,
        method="GET",
        path=url[:500],
        request_body=None,
        response_status=None,
        response_body=json.dumps(
            {
                "reachable": result.reachable,
                "valid_json": result.valid_json,
                "issuer_matches": result.issuer_matches,
                "authorization_host": result.authorization_host,
            },
        ),
        outcome=AuditEntry.Outcome.OK if result.passed else AuditEntry.Outcome.FAILED,
        error_message=result.problem,
        duration_ms=duration_ms,
        request_id=context.request_id,
        client_ip=context.client_ip,
        user_agent=context.user_agent,
    )
    try:
        audit_log.append(entry)
    except DatabaseError as exc:  # as for a read: no result shown that no record covers
        logger.exception("The audit entry of an issuer check could not be written")
        security_log.error("The audit log could not record the issuer check of %s by %s", url, context.actor_username)
        raise AuditUnavailable(nothing_sent=False) from exc
