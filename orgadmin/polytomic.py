"""The one place that talks to Polytomic's partner API.

Every call goes through `PolytomicClient._call`, which sends the request, records one audit entry
(`orgadmin.audit`) whatever happens, and turns every failure into one of the exceptions below.
The API contract is `shared/polytomic-api.md` (Polytomic API version 2025-09-18); points that
public material does not settle are marked "(guess)" and kept here, in one place.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import requests
import urllib3.connection
import urllib3.connectionpool
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from orgadmin import __version__
from orgadmin.audit import REDACTED, AuditContext, CallRecord, record_call, scrubber

# The fields of an organization's SSO (SAML) and OIDC configuration, in API order. Polytomic
# replaces all of them on every update; `client_id` and `client_secret` are write-only.
SSO_FIELDS = ("sso_domain", "sso_org_id", "issuer", "client_id", "client_secret")
API_FIELDS = ("name", *SSO_FIELDS)

# Idempotency keys: 8 to 255 letters, digits, "-" and "_" (a UUID4 is recommended).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,255}")

T = TypeVar("T")

RETRY_AFTER_CAP_SECONDS = 3.0
MESSAGE_MAX_LENGTH = 300


# --- Types -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization as Polytomic returns it. It never returns `client_id` or `client_secret`."""

    id: str
    name: str
    sso_domain: str = ""
    sso_org_id: str = ""
    issuer: str = ""

    @classmethod
    def from_api(cls, data: Any) -> Organization:
        """Reads one organization, ignoring unknown fields; a missing or null field reads as blank."""
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not data["id"]:
            raise ValueError("not an organization")
        return cls(
            id=data["id"],
            name=_text(data, "name"),
            sso_domain=_text(data, "sso_domain"),
            sso_org_id=_text(data, "sso_org_id"),
            issuer=_text(data, "issuer"),
        )

    @property
    def has_saml_sso(self) -> bool:
        return bool(self.sso_org_id)

    @property
    def has_oidc(self) -> bool:
        """A non-empty issuer is the only sign Polytomic gives that OIDC is configured."""
        return bool(self.issuer)


def _text(data: Mapping, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return whole_characters(value)


# JSON may escape half of a UTF-16 surrogate pair ("\ud800"): Python reads it as a lone
# surrogate, which is no character, and no page holding one can be encoded.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_characters(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, as a browser shows invalid text."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True, slots=True)
class OrganizationInput:
    """What a create or an update sends: the name and the whole SSO/OIDC configuration."""

    name: str
    sso_domain: str = ""
    sso_org_id: str = ""
    issuer: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


def organization_body(data: OrganizationInput) -> dict[str, str | None]:
    """The JSON body of a create or an update: every field, always, a blank one as null.

    Polytomic replaces the SSO and OIDC configuration in full on each update, so a field left out
    is a field wiped (shared/polytomic-api.md, "Full replacement"). This is the only place that
    decides how "blank" is sent.
    """
    body: dict[str, str | None] = {"name": data.name.strip()}
    for name in SSO_FIELDS:
        body[name] = getattr(data, name).strip() or None
    return body


# --- Exceptions ------------------------------------------------------------------------------------


class PolytomicError(Exception):
    """A call to Polytomic did not succeed. `message` is safe to show to staff."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PolytomicUnavailable(PolytomicError):
    """Polytomic could not be reached or could not answer: connection refused or reset, DNS,
    timeout, 429, 5xx, or an answer that is not the JSON the contract promises."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PolytomicAuthenticationError(PolytomicError):
    """401: Polytomic does not accept the portal's partner key."""


class PolytomicForbidden(PolytomicError):
    """403: the partner key may not do this to this organization."""


class PolytomicNotFound(PolytomicError):
    """404: no such organization."""


class PolytomicValidationError(PolytomicError):
    """409 or 422: Polytomic refused the input.

    `field_errors` maps API field names (`name`, `issuer`, ...) to messages; `non_field_errors`
    holds the rest. `in_flight` is set for the 409 that means an earlier request with the same
    Idempotency-Key is still being processed, which says nothing about the input.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        field_errors: dict[str, list[str]] | None = None,
        non_field_errors: list[str] | None = None,
        in_flight: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.field_errors = field_errors or {}
        self.non_field_errors = non_field_errors or []
        self.in_flight = in_flight


# --- Transport -------------------------------------------------------------------------------------

# Attempts of the call in progress in this thread (or task): counted by `_CountingRetry`, read by
# `PolytomicClient._call`. urllib3 keeps a retry history on the response, but none on the
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
# process shuts down the connections of any call that outlives it; the blocked read then fails
# at once, wherever it was (status line, headers or body).


@dataclass(eq=False)
class _Deadline:
    """One call's deadline, and the connections it has sent on (retries use new ones)."""

    at: float
    connections: list[Any] = field(default_factory=list)
    passed: bool = False
    finished: bool = False


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

    def attach(self, deadline: _Deadline, connection: Any) -> None:
        with self._condition:
            if deadline.passed:
                _break(connection)
            elif not deadline.finished:
                deadline.connections.append(connection)

    def finish(self, deadline: _Deadline) -> None:
        with self._condition:
            deadline.finished = True
            deadline.connections.clear()

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
                for connection in deadline.connections:
                    _break(connection)
                deadline.connections.clear()


def _break(connection: Any) -> None:
    """Shuts the connection's socket down, so that a read blocked on it returns at once. The
    plain socket's shutdown is used on TLS sockets too: it leaves their TLS state alone."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()
# The deadline of the call in progress in this thread, for the connection it sends on.
_current_deadline: ContextVar[_Deadline | None] = ContextVar("polytomic_deadline", default=None)


class _WatchedConnectionMixin:
    """A urllib3 connection that puts itself under the deadline of the call it is sending for."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _current_deadline.get()
        if deadline is not None:
            _WATCHDOG.attach(deadline, self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnection(_WatchedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


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


class _NoCookies(requests.cookies.cookielib.DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


class PolytomicSession(requests.Session):
    """A pooled, keep-alive session for one base URL, shared by all threads of a worker.

    Cookies are refused, so nothing per-caller is kept on the shared session. The environment's
    proxy and CA bundle settings are read once, here: requests would otherwise read the whole
    environment again on every call (a tenth of a detail page's time, profiled).
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


# --- The client ------------------------------------------------------------------------------------


class PolytomicClient:
    """Polytomic's Organizations API, for the services in `orgadmin.services`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_version: str,
        timeout: tuple[float, float],
        pool_size: int = 16,
        total_timeout: float = 20.0,
        max_response_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self._api_key = api_key
        self._reads = PolytomicSession(base_url=self.base_url, timeout=timeout, retries=READ_RETRY, pool_size=pool_size)
        self._writes = PolytomicSession(base_url=self.base_url, timeout=timeout, retries=NO_RETRY, pool_size=pool_size)
        self._timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"<PolytomicClient {self.base_url} version {self.api_version}>"

    def close(self) -> None:
        self._reads.close()
        self._writes.close()

    # Operations ------------------------------------------------------------------------------

    def list_organizations(self, *, context: AuditContext) -> list[Organization]:
        return self._call(
            "GET", "/api/organizations", action="organization.list", context=context, parse=_organizations
        )

    def get_organization(self, organization_id: UUID, *, context: AuditContext) -> Organization:
        return self._call(
            "GET",
            f"/api/organizations/{organization_id}",
            action="organization.get",
            context=context,
            organization_id=str(organization_id),
            parse=Organization.from_api,
        )

    def create_organization(
        self, data: OrganizationInput, *, idempotency_key: str, context: AuditContext
    ) -> Organization:
        body = organization_body(data)
        return self._call(
            "POST",
            "/api/organizations",
            action="organization.create",
            context=context,
            body=body,
            idempotency_key=idempotency_key,
            organization_name=body["name"],
            parse=Organization.from_api,
        )

    def update_organization(
        self, organization_id: UUID, data: OrganizationInput, *, idempotency_key: str, context: AuditContext
    ) -> Organization:
        body = organization_body(data)
        return self._call(
            "PUT",
            f"/api/organizations/{organization_id}",
            action="organization.update",
            context=context,
            body=body,
            idempotency_key=idempotency_key,
            organization_id=str(organization_id),
            organization_name=body["name"],
            parse=Organization.from_api,
        )

    def delete_organization(
        self, organization_id: UUID, *, idempotency_key: str, context: AuditContext, organization_name: str = ""
    ) -> None:
        """Any 2xx is success, with or without a body (the contract does not document one)."""
        self._call(
            "DELETE",
            f"/api/organizations/{organization_id}",
            action="organization.delete",
            context=context,
            idempotency_key=idempotency_key,
            organization_id=str(organization_id),
            organization_name=organization_name,
            parse=None,
        )

    # The one call ----------------------------------------------------------------------------

    # Every frame below carries the partner key (a header) and perhaps the client secret (the
    # body): error reports show none of their variables (orgadmin/error_reports.py).
    @sensitive_variables()
    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        context: AuditContext,
        body: dict[str, Any] | None = None,
        idempotency_key: str = "",
        organization_id: str = "",
        organization_name: str = "",
        parse: Callable[[Any], T] | None,
    ) -> T:
        """Sends one request, records it, and returns the response's `data` read by `parse`
        (nothing is read when `parse` is None).

        Raises, in one place (`_failure_for_response` and `_failure_for_transport`):
        - `PolytomicUnavailable`: transport failures (refused, reset, DNS, timeout), 429, 5xx, and
          a success whose body is not the JSON the contract promises;
        - `PolytomicAuthenticationError` (401), `PolytomicForbidden` (403), `PolytomicNotFound` (404);
        - `PolytomicValidationError` (409, 422);
        - `PolytomicError` for any other answer (400, other 4xx, redirects).
        """
        if method != "GET" and not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            raise ValueError("writes need an Idempotency-Key of 8-255 letters, digits, '-' or '_'")
        record = CallRecord(
            context=context,
            action=action,
            method=method,
            path=path,
            request_body=body,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            organization_name=organization_name,
            secrets=(self._api_key, (body or {}).get("client_secret") or ""),
        )
        counter = [1]
        token = _attempts.set(counter)
        started = time.monotonic()
        deadline = _WATCHDOG.start(self.total_timeout)
        deadline_token = _current_deadline.set(deadline)
        try:
            response = self._send(method, path, body=body, idempotency_key=idempotency_key, context=context)
            record.response(response)
            try:
                _read_body(response, max_bytes=self.max_response_bytes)
            except _AnswerTooLarge as exc:
                raise _too_large(self.max_response_bytes, method=method) from exc
            if deadline.passed:  # whatever was read, the watchdog broke the connection under it
                raise _too_slow(self.total_timeout, method=method)
            record.response_text = response.text
            failure = _failure_for_response(
                response, idempotency_key=idempotency_key, scrub=shown_text_scrubber(record.secrets)
            )
            if failure is not None:
                raise failure
            result = parse(_read_data(response, record)) if parse is not None else None
        except requests.RequestException as exc:
            if deadline.passed:
                failure = _too_slow(self.total_timeout, method=method)
            else:
                failure = _failure_for_transport(exc, self._timeout, method=method)
            record.fail(failure)
            raise failure from exc
        except ValueError as exc:  # a 2xx whose body is not what the contract promises
            failure = (
                _too_slow(self.total_timeout, method=method)
                if deadline.passed
                else PolytomicUnavailable(
                    "Polytomic sent an answer the portal could not read. Try again in a moment.", status=record.status
                )
            )
            record.fail(failure)
            raise failure from exc
        except PolytomicError as exc:
            record.fail(exc)
            raise
        except BaseException as exc:
            record.fail(PolytomicError(f"The call could not be completed ({type(exc).__name__})."))
            raise
        else:
            if isinstance(result, Organization):
                record.identify(organization_id=result.id, organization_name=result.name)
            return result
        finally:
            _WATCHDOG.finish(deadline)
            _current_deadline.reset(deadline_token)
            _attempts.reset(token)
            record_call(record, duration_ms=(time.monotonic() - started) * 1000, attempts=counter[0])

    def _send(
        self, method: str, path: str, *, body: dict[str, Any] | None, idempotency_key: str, context: AuditContext
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "X-Polytomic-Version": self.api_version,
            "Accept": "application/json",
            "User-Agent": f"partner-organization-portal/{__version__}",
        }
        if context.request_id:
            headers["X-Request-ID"] = context.request_id
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if body is not None:
            headers["Content-Type"] = "application/json"
        session = self._reads if method == "GET" else self._writes
        # Streamed: the body is read by `_read_body`, which stops at the size limit.
        return session.request(
            method,
            f"{self.base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers=headers,
            allow_redirects=False,
            stream=True,
        )


# --- Reading answers -------------------------------------------------------------------------------

READ_CHUNK_BYTES = 64 * 1024


class _AnswerTooLarge(Exception):
    """The answer's body is larger than the client accepts."""


def _read_body(response: requests.Response, *, max_bytes: int) -> None:
    """Reads the streamed body (decompressed) into the response, stopping at `max_bytes`: a
    declared length over it is refused unread, and a body that grows past it is cut off and its
    connection closed. Nothing Polytomic sends can make a worker hold more than that."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise _AnswerTooLarge
    chunks, size = [], 0
    for chunk in response.iter_content(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            raise _AnswerTooLarge
        chunks.append(chunk)
    # requests keeps a read body here (as its own `content` does), for .text and .json().
    response._content = b"".join(chunks)
    response._content_consumed = True


def _too_large(max_bytes: int, *, method: str) -> PolytomicUnavailable:
    message = f"Polytomic's answer was larger than the portal accepts ({max_bytes / 1024 / 1024:g} MB)."
    if method != "GET":
        message += " It may have done what was asked: reload the page to see the result before submitting again."
    return PolytomicUnavailable(message)


def _too_slow(total_timeout: float, *, method: str) -> PolytomicUnavailable:
    message = f"Polytomic did not finish answering within {total_timeout:g} seconds."
    if method != "GET":
        message += " It may still have done what was asked: submitting the same form again is safe."
    return PolytomicUnavailable(message)


def _organizations(data: Any) -> list[Organization]:
    if data is None:  # "data": null is an empty list
        return []
    if not isinstance(data, list):
        raise ValueError("data is not a list")
    return [Organization.from_api(item) for item in data]


def _read_data(response: requests.Response, record: CallRecord) -> Any:
    """The `data` of a success body; ValueError when the body is not `{"data": ...}` JSON.
    The body read is kept on the record, for the audit entry not to read it again."""
    try:
        payload = record.payload = response.json()
    # requests' JSONDecodeError is also a RequestException: keep it apart from transport. A body
    # nested deeper than Python parses is no more readable than one that is not JSON.
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(payload, dict) or "data" not in payload:
        raise ValueError("no data in the body")
    return payload["data"]


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def error_message(response: requests.Response, scrub: Callable[[str], str]) -> str:
    """Polytomic's message, found in the order the contract gives: `message`, `error` (a string),
    `error.message`, then the raw text, scrubbed and cut short. An HTML page (a proxy's 502) is
    never shown."""
    payload = _json_or_none(response)
    if isinstance(payload, dict):
        if isinstance(payload.get("message"), str) and payload["message"].strip():
            return _short(payload["message"], scrub)
        error = payload.get("error")
        if isinstance(error, str) and error.strip():
            return _short(error, scrub)
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
            return _short(error["message"], scrub)
    text = response.text.strip()
    content_type = response.headers.get("Content-Type", "")
    if text and payload is None and "html" not in content_type and not text.startswith("<"):
        return _short(text, scrub)
    return ""


def _short(text: str, scrub: Callable[[str], str]) -> str:
    """Upstream text as staff see it: the partner key and the secret sent removed first (before
    the cut, so that no part of them is left), white space folded, cut short."""
    text = " ".join(whole_characters(scrub(text)).split())
    return text if len(text) <= MESSAGE_MAX_LENGTH else text[: MESSAGE_MAX_LENGTH - 1] + "…"


# Credentials after an authorization scheme, as an answer echoing the request's headers shows
# them, whole or cut short.
_CREDENTIALS = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def shown_text_scrubber(secrets: tuple[str, ...]) -> Callable[[str], str]:
    """What removes the call's secrets from Polytomic's text before anyone is shown it: each
    secret wherever it appears, and any credentials after "Bearer" or "Basic"."""
    scrub = scrubber(secrets)

    def scrub_shown(text: str) -> str:
        return _CREDENTIALS.sub(lambda match: f"{match[1]} {REDACTED}", scrub(text))

    return scrub_shown


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _failure_for_response(
    response: requests.Response, *, idempotency_key: str, scrub: Callable[[str], str]
) -> PolytomicError | None:
    """The exception for an answer that is not a success, or None for a 2xx. Every message in
    it is safe to show: Polytomic's words pass through `scrub` (see `_short`)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    message = error_message(response, scrub)
    if status == 401:
        return PolytomicAuthenticationError(
            "Polytomic did not accept the portal's partner API key. An administrator must check the key."
            + (f" Polytomic said: {message}" if message else ""),
            status=status,
        )
    if status == 403:
        return PolytomicForbidden(message or "Polytomic does not allow this for this organization.", status=status)
    if status == 404:
        return PolytomicNotFound(message or "Polytomic has no such organization.", status=status)
    if status in (409, 422):
        return _validation_error(response, message, idempotency_key=idempotency_key, scrub=scrub)
    if status == 429:
        retry_after = _retry_after_seconds(response)
        wait = f" Try again in {retry_after:.0f} seconds." if retry_after else " Try again in a moment."
        return PolytomicUnavailable(
            "Polytomic is receiving too many requests." + wait, status=status, retry_after=retry_after
        )
    if status >= 500:
        return PolytomicUnavailable(
            f"Polytomic is not able to answer right now (HTTP {status}). Try again in a moment."
            + (f" Polytomic said: {message}" if message else ""),
            status=status,
        )
    return PolytomicError(
        f"Polytomic refused the request (HTTP {status})." + (f" Polytomic said: {message}" if message else ""),
        status=status,
    )


# (guess) Nothing public says how the idempotency-in-flight 409 reads; these words are how such
# answers are usually phrased. A 409 that mentions none of them is taken to be about the name.
_IN_FLIGHT_WORDS = re.compile(r"idempot|in[ -]?flight|in progress|already being processed|concurrent", re.IGNORECASE)


def _validation_error(
    response: requests.Response, message: str, *, idempotency_key: str, scrub: Callable[[str], str]
) -> PolytomicValidationError:
    status = response.status_code
    payload = _json_or_none(response)
    payload = payload if isinstance(payload, dict) else {}
    if status == 409:
        key = payload.get("key") if isinstance(payload.get("key"), str) else ""
        if idempotency_key and (_IN_FLIGHT_WORDS.search(message) or _IN_FLIGHT_WORDS.search(key)):
            return PolytomicValidationError(
                "The previous submission of this form is still being processed by Polytomic. "
                "Wait a moment, then reload the page to see its result.",
                status=status,
                in_flight=True,
            )
        name_message = message or "An organization with this name already exists."
        return PolytomicValidationError(name_message, status=status, field_errors={"name": [name_message]})
    field_errors, non_field_errors = _metadata_errors(payload.get("metadata"), scrub)
    headline = message or "Polytomic did not accept these values."
    if headline not in non_field_errors:
        non_field_errors.insert(0, headline)
    return PolytomicValidationError(
        headline, status=status, field_errors=field_errors, non_field_errors=non_field_errors
    )


def _metadata_errors(metadata: Any, scrub: Callable[[str], str]) -> tuple[dict[str, list[str]], list[str]]:
    """Field errors from a 422's free-form `metadata`: an object keyed by field name (guess), or
    an array of messages or of {field, message} objects (older clients saw an array)."""
    field_errors: dict[str, list[str]] = {}
    non_field_errors: list[str] = []

    def add(field_name: Any, value: Any) -> None:
        messages = [_short(m, scrub) for m in _messages(value)]
        if isinstance(field_name, str) and field_name in API_FIELDS:
            field_errors.setdefault(field_name, []).extend(messages or ["This value was not accepted."])
        else:
            non_field_errors.extend(messages)

    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            add(key, value)
    elif isinstance(metadata, list):
        for item in metadata:
            if isinstance(item, Mapping):
                add(item.get("field") or item.get("path"), item.get("message") or item.get("error"))
            else:
                add(None, item)
    return field_errors, non_field_errors


def _messages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    if isinstance(value, Mapping):
        return _messages(value.get("message") or value.get("error"))
    return []


def _failure_for_transport(
    exc: requests.RequestException, timeout: tuple[float, float], *, method: str
) -> PolytomicError:
    """The exception for a request that got no answer."""
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else exc
    # urllib3 makes a refused connection (NewConnectionError) a kind of ConnectTimeoutError.
    refused = isinstance(reason, NewConnectionError)
    timed_out = isinstance(exc, requests.Timeout) or isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))
    if timed_out and not refused:
        connect, read = timeout
        message = f"Polytomic did not answer in time (waited {connect:g} s to connect, {read:g} s for an answer)."
        if method != "GET":
            message += " It may still have done what was asked: submitting the same form again is safe."
        return PolytomicUnavailable(message)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or isinstance(reason, ProtocolError):
        message = "The connection to Polytomic broke before its answer arrived."
        if method != "GET":
            message += " It may have done what was asked: submitting the same form again is safe."
        return PolytomicUnavailable(message)
    if isinstance(exc, requests.ConnectionError):
        return PolytomicUnavailable("The portal could not reach Polytomic. Try again in a moment.")
    return PolytomicUnavailable(f"The call to Polytomic failed ({type(exc).__name__}). Try again in a moment.")


# --- The shared client -----------------------------------------------------------------------------


@cache
def client() -> PolytomicClient:
    """The process's client, built from settings once; its sessions are shared by all threads."""
    return PolytomicClient(
        base_url=settings.POLYTOMIC_API_URL,
        api_key=settings.POLYTOMIC_PARTNER_API_KEY,
        api_version=settings.POLYTOMIC_API_VERSION,
        timeout=(settings.POLYTOMIC_CONNECT_TIMEOUT, settings.POLYTOMIC_READ_TIMEOUT),
        pool_size=settings.POLYTOMIC_POOL_SIZE,
        total_timeout=settings.POLYTOMIC_TOTAL_TIMEOUT,
        max_response_bytes=settings.POLYTOMIC_MAX_RESPONSE_BYTES,
    )


@receiver(setting_changed)
def _rebuild_client(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("POLYTOMIC_"):
        client.cache_clear()
