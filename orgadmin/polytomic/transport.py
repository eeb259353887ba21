"""How requests reach Polytomic and answers come back: one pooled session per purpose, a timeout
on every request, retries for reads only, a deadline on each whole call, and a bounded read of
each answer. Nothing here knows what the requests mean.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import charset_normalizer
import requests
import urllib3.connection
import urllib3.connectionpool
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_AFTER_CAP_SECONDS = 3.0
READ_CHUNK_BYTES = 64 * 1024


# --- Retries -----------------------------------------------------------------------------------------

# Attempts of the call in progress in this thread (or task): counted by `_CountingRetry`, read
# through `counting_attempts`. urllib3 keeps a retry history on the response, but none on the
# exception raised when retries run out, so the count is kept here for both.
_attempts: ContextVar[list[int] | None] = ContextVar("polytomic_attempts", default=None)


class _CountingRetry(Retry):
    """urllib3's Retry, counting attempts and capping how long a Retry-After may make us wait."""

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        retry = super().increment(*args, **kwargs)  # raises MaxRetryError when no attempt is left
        counter = _attempts.get()
        if counter is not None:
            counter[0] += 1
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        retry_after = super().get_retry_after(response)
        return None if retry_after is None else min(retry_after, RETRY_AFTER_CAP_SECONDS)

    def sleep(self, response: Any = None) -> None:
        """urllib3's wait before a retry (Retry-After, else the backoff), but never past the
        call's deadline."""
        wait = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = wait or self.get_backoff_time()
        deadline = _current_deadline.get()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline.at - time.monotonic()))
        if wait > 0:
            time.sleep(wait)


# GET only: connection errors, 429 and 502/503/504, twice at most, with a short capped backoff.
# Read timeouts are not retried: each would add a whole read timeout to the page's wait.
READ_RETRY = _CountingRetry(
    total=2,
    connect=2,
    read=0,
    status=2,
    other=0,
    redirect=0,
    allowed_methods=frozenset({"GET"}),
    status_forcelist=frozenset({429, 502, 503, 504}),
    backoff_factor=0.2,
    backoff_max=1.0,
    respect_retry_after_header=True,
    raise_on_status=False,
    raise_on_redirect=False,
)
# POST, PUT and DELETE are never retried automatically: a resubmission by the operator, with the
# same Idempotency-Key, is the only repeat.
NO_RETRY = _CountingRetry(total=0, connect=0, read=False, status=0, other=0, redirect=0, raise_on_redirect=False)


# --- The whole call's deadline ------------------------------------------------------------------
#
# Socket timeouts bound one wait for bytes, not a call: an answer trickled a byte every ten
# seconds never trips a 15 s read timeout. Each call therefore has a deadline, and one thread per
# process shuts down the sockets of any call that outlives it; the blocked read then ends at once,
# wherever it was (TLS handshake, status line, headers or body).
#
# What the deadline shuts down is its own duplicate of each socket (another file descriptor for
# the same connection), taken as the socket is made or as a call takes a kept-alive connection from
# its pool. The connection's socket object is no hold: TLS detaches the plain socket it wraps (and
# shakes hands before urllib3 keeps the wrapped one), and http.client lets go of the connection's
# socket (`sock = None`) once the headers say the answer ends by closing the connection (no length
# given, or `Connection: close`), the body then being read through a file object of the answer's.


@dataclass(eq=False)
class _Deadline:
    """One call's deadline, and the sockets it holds, each with its connection (a retry may use
    another). A connection is the deadline's only while it is out of its pool
    (`polytomic_deadline`): the deadline breaks no socket of one the pool has taken back."""

    at: float
    held: list[tuple[Any, socket.socket]] = field(default_factory=list)
    passed: bool = False
    finished: bool = False
    expired: threading.Event = field(default_factory=threading.Event)  # set when it passes


class _Watchdog:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: list[tuple[float, int, _Deadline]] = []  # a heap, earliest first
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> _Deadline:
        deadline = _Deadline(at=time.monotonic() + seconds)
        with self._condition:
            earliest = self._due[0][0] if self._due else None
            heapq.heappush(self._due, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="polytomic-deadlines", daemon=True)
                self._thread.start()
            if earliest is None or deadline.at < earliest:
                self._condition.notify()
        return deadline

    def attach(self, deadline: _Deadline, connection: Any, sock: socket.socket | None = None) -> None:
        """Puts the connection under the deadline, as its call is about to use it, and holds `sock`
        (its socket, when it has one) until the deadline ends; past the deadline, nothing more is
        connected or sent (a retry included)."""
        with self._condition:
            if deadline.passed:
                raise TimeoutError("the call's deadline has passed")
            connection.polytomic_deadline = deadline
            if sock is not None and sock.fileno() != -1:
                deadline.held.append((connection, socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)))

    def release(self, connection: Any) -> None:
        """The connection is back in its pool, free for another call: no deadline may break it."""
        with self._condition:
            connection.polytomic_deadline = None

    def finish(self, deadline: _Deadline) -> None:
        with self._condition:
            deadline.finished = True
            held, deadline.held = deadline.held, []
        for _, sock in held:  # the duplicates only: the connections' own sockets stay as they are
            sock.close()

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._due and self._due[0][2].finished:
                    heapq.heappop(self._due)
                if not self._due:
                    self._condition.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                deadline = heapq.heappop(self._due)[2]
                deadline.passed = True
                for connection, sock in deadline.held:
                    if getattr(connection, "polytomic_deadline", None) is deadline:
                        # A duplicate is a plain socket, of a TLS connection too: its shutdown
                        # leaves the TLS state of the thread reading alone.
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                deadline.expired.set()


_WATCHDOG = _Watchdog()
# The deadline of the call in progress in this thread, for the connection it sends on.
_current_deadline: ContextVar[_Deadline | None] = ContextVar("polytomic_deadline", default=None)


def watch(connection: Any, sock: socket.socket | None = None) -> None:
    """Puts `connection` under the deadline of the block it is used in, if any, holding `sock`,
    its socket: from then on the deadline shuts that socket down, wherever it waits. Raises
    TimeoutError once the deadline has passed."""
    deadline = _current_deadline.get()
    if deadline is not None:
        _WATCHDOG.attach(deadline, connection, sock)


class _WatchedConnectionMixin:
    """A urllib3 connection under the deadline of the call it is used for: its socket is held
    from the moment it exists (before any TLS handshake), or, kept alive from an earlier call,
    from the moment this call sends on it."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        watch(self)  # past the deadline, nothing more is connected
        sock = super()._new_conn()
        try:
            watch(self, sock)
        except TimeoutError:
            sock.close()
            raise
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        held = getattr(self, "polytomic_deadline", None) is _current_deadline.get()  # connected in this call
        watch(self, None if held else self.sock)
        super().request(*args, **kwargs)


class WatchedHTTPConnection(_WatchedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPoolMixin:
    """A pool that takes its connections back from the deadline of the call that used them."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            _WATCHDOG.release(conn)
        super()._put_conn(conn)


class _WatchedHTTPConnectionPool(_WatchedPoolMixin, urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(_WatchedPoolMixin, urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that puts a (connect, read) timeout on every request that does not bring one,
    and whose connections answer to the call's whole deadline."""

    def __init__(self, *, timeout: tuple[float, float], **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[_Deadline]:
    """The connections sent on inside this block are shut down `seconds` after it starts, if it
    has not ended by then; `.passed` says whether that happened."""
    watched = _WATCHDOG.start(seconds)
    token = _current_deadline.set(watched)
    try:
        yield watched
    finally:
        _WATCHDOG.finish(watched)
        _current_deadline.reset(token)


@contextlib.contextmanager
def counting_attempts() -> Iterator[list[int]]:
    """Counts the HTTP attempts of the request sent inside this block, retries included; the
    count is the list's one item."""
    counter = [1]
    token = _attempts.set(counter)
    try:
        yield counter
    finally:
        _attempts.reset(token)


class _NoCookies(requests.cookies.cookielib.DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class PolytomicSession(requests.Session):
    """A pooled, keep-alive session for one base URL, shared by all threads of a worker.

    Cookies are refused, so nothing per-caller is kept on the shared session. The environment's
    proxy and CA bundle settings are read once, here: requests would otherwise read the whole
    environment again on every call (docs/performance.md).
    """

    def __init__(self, *, base_url: str, timeout: tuple[float, float], retries: Retry, pool_size: int) -> None:
        super().__init__()
        self.proxies.update(requests.utils.get_environ_proxies(base_url))
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.trust_env = False
        self.cookies.set_policy(_NoCookies())
        adapter = TimeoutHTTPAdapter(
            timeout=timeout, max_retries=retries, pool_connections=1, pool_maxsize=pool_size, pool_block=False
        )
        self.mount("http://", adapter)
        self.mount("https://", adapter)


# --- Answers -----------------------------------------------------------------------------------------


class AnswerTooLarge(Exception):
    """The answer's body is larger than the client accepts."""


@dataclass(frozen=True)
class Answer:
    """What Polytomic answered, read once: the status, the headers, the body as text, and the body
    as JSON when it is JSON (`is_json`), for both the client and the audit record to use."""

    status: int
    headers: Mapping[str, str]
    text: str
    json: Any = None
    is_json: bool = False


def decoded(body: bytes, encoding: str | None) -> str:
    """The body as text, as requests' `Response.text` decodes one: in the charset the answer
    declares, else the one its bytes look like, any byte that does not decode replaced."""
    if not body:
        return ""
    try:
        return str(body, encoding or charset_normalizer.detect(body)["encoding"] or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return str(body, "utf-8", errors="replace")


def read_answer(response: requests.Response, *, max_bytes: int) -> Answer:
    """Reads the streamed body (decompressed), stopping at `max_bytes`: a declared length over it
    is refused unread, and a body that grows past it is cut off and its connection closed.
    Nothing Polytomic sends can make a worker hold more than that."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise AnswerTooLarge
    chunks, size = [], 0
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise AnswerTooLarge
        chunks.append(chunk)
    text = decoded(b"".join(chunks), response.encoding)
    try:
        document, is_json = json.loads(text), True
    # Not JSON, or nested deeper than Python parses, which is no more readable.
    except (ValueError, RecursionError):
        document, is_json = None, False
    return Answer(status=response.status_code, headers=response.headers, text=text, json=document, is_json=is_json)
