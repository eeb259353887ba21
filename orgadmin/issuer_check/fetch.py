"""The issuer check's fetch: one GET, to an address the policy allows, within one deadline.

The host's addresses, once resolved, must all be allowed (`orgadmin.issuer_check.policy`); the
connection is made to one of those addresses, and the address the socket actually connected to is
checked again before anything is sent; no redirect is followed; a small size cap.

One deadline (PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS, 3 s by default) covers the whole fetch,
whatever the peer does: the name is resolved in a daemon thread that the check stops waiting for
at the deadline, the connection is opened with the time left, and from the moment its socket
exists the Polytomic client's deadline watchdog (orgadmin/polytomic/transport.py) shuts it
down at the deadline, so a TLS handshake, status line, headers or body trickled a byte at a time
end there too (a socket timeout alone restarts at every byte). PORTAL_ISSUER_CHECK_CA_FILE
replaces the system's certificate authorities.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from concurrent.futures import Future
from http.client import HTTPException

from django.conf import settings
from urllib3.connection import HTTPConnection
from urllib3.exceptions import HTTPError

from orgadmin.issuer_check.policy import allowed, target
from orgadmin.issuer_check.refusals import Refused, shown
from orgadmin.issuer_check.targets import Target
from orgadmin.polytomic import transport

MAX_BYTES = 64 * 1024


def too_long() -> str:
    """What a check that ran out of time says."""
    return (
        f"The issuer took more than {settings.PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS:g} seconds to answer; "
        "the check stops there."
    )


def fetch(url: str) -> tuple[int, bytes]:
    """GETs `url` from the public internet only, within PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS in
    all; its status and at most MAX_BYTES of its body."""
    deadline = time.monotonic() + settings.PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS
    found = target(url)
    address = _allowed_address(found, deadline)
    with transport.deadline(max(0.0, deadline - time.monotonic())) as watched:
        try:
            answer = _get(found, address, timeout=max(0.001, deadline - time.monotonic()))
        except (OSError, HTTPError, HTTPException) as exc:
            if watched.passed or isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
                raise Refused(too_long()) from None
            raise Refused(f"The issuer could not be reached ({type(exc).__name__}).") from None
        if watched.passed:  # what was read ended because the deadline shut the connection
            raise Refused(too_long())
    return answer


def _allowed_address(found: Target, deadline: float) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The first address of the host, once every address it resolves to is allowed."""
    addresses = [found.address] if found.address is not None else _resolve(found, deadline)
    for address in addresses:
        if not allowed(found, address):
            raise Refused(
                f"The issuer's host “{shown(found.host)}” resolves to {address}, which is not a public address."
            )
    return addresses[0]


# --- The name, resolved under the deadline --------------------------------------------------------


@functools.cache
def _resolver_threads() -> threading.BoundedSemaphore:
    """As many resolutions at once as checks may run at once; one more waits for a free one,
    until its deadline."""
    return threading.BoundedSemaphore(max(1, settings.PORTAL_ISSUER_CHECK_MAX_TOTAL))


def _resolve(found: Target, deadline: float) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The host's addresses, by the system's resolver, which takes no timeout: it runs in a thread
    of its own that the check stops waiting for at its deadline. A daemon thread, so that a
    resolution that never ends cannot hold up the process's exit (the threads of a
    ThreadPoolExecutor are joined when the interpreter exits)."""
    threads = _resolver_threads()
    if not threads.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise Refused(too_long())
    resolving: Future[list] = Future()

    def resolve() -> None:
        try:
            resolving.set_result(socket.getaddrinfo(found.host, found.port, type=socket.SOCK_STREAM))
        except Exception as exc:  # handed to the check, as a pool's future would hand it
            resolving.set_exception(exc)
        finally:
            threads.release()

    try:
        threading.Thread(target=resolve, name="issuer-check-resolver", daemon=True).start()
    except BaseException:  # no thread started: none will give the slot back
        threads.release()
        raise
    try:
        infos = resolving.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise Refused(too_long()) from None
    except (OSError, UnicodeError):
        raise Refused(f"The issuer's host “{shown(found.host)}” does not resolve.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise Refused(f"The issuer's host “{shown(found.host)}” does not resolve.")
    return addresses


# --- The connection, checked, and the bounded read ------------------------------------------------


class _CheckedConnectionMixin:
    """A connection of the Polytomic client's kind (transport.WatchedHTTPConnection: under the
    fetch's deadline from the moment its socket exists, the TLS handshake included) that also
    checks the address it actually connected to before anything is sent."""

    target: Target

    def _new_conn(self) -> socket.socket:
        self.sock = sock = super()._new_conn()  # so that close() closes it if this raises
        peer = ipaddress.ip_address(sock.getpeername()[0])
        if peer != ipaddress.ip_address(self.host) or not allowed(self.target, peer):
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
