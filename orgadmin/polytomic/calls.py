"""How one call to Polytomic's partner API is made, whatever it asks: `PolytomicCalls._call`, in
four named steps: send the request and read the answer (`transport`), turn a failed answer, or
none, into an exception (`errors`), read the data of a good one, and record the call in the audit
log (`recording`), whatever happened. `client.PolytomicClient` names the calls on top of it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from django.views.decorators.debug import sensitive_variables

from audit.protocol import AuditContext, AuditUnavailable, refuse_reads_while_refused
from orgadmin import __version__
from orgadmin.polytomic.entities import Entity
from orgadmin.polytomic.errors import (
    PolytomicError,
    PolytomicOutcomeUnknown,
    failure_for_answer,
    failure_for_transport,
    too_large,
    too_slow,
    unreadable,
)
from orgadmin.polytomic.fields import SECRETS, Organization
from orgadmin.polytomic.people import ApiKey
from orgadmin.polytomic.recording import CallRecord, record_attempt, record_call
from orgadmin.polytomic.text import shown_text_scrubber
from orgadmin.polytomic.transport import (
    NO_RETRY,
    READ_RETRY,
    Answer,
    AnswerTooLarge,
    PolytomicSession,
    counting_attempts,
    deadline,
    read_answer,
)

T = TypeVar("T")

# Idempotency keys: 8 to 255 letters, digits, "-" and "_" (a UUID4 is recommended). Polytomic's
# idempotency guide asks for them on POST; the portal sends them on PUT too, and never on GET or
# DELETE (a repeated DELETE answers 404, which the pages read as "already deleted").
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,255}")
KEYED_METHODS = frozenset({"POST", "PUT"})


class PolytomicCalls:
    """The sessions and the one call every operation of `PolytomicClient` goes through."""

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
        self._timeout = timeout
        self._reads = PolytomicSession(base_url=self.base_url, timeout=timeout, retries=READ_RETRY, pool_size=pool_size)
        self._writes = PolytomicSession(base_url=self.base_url, timeout=timeout, retries=NO_RETRY, pool_size=pool_size)

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self.base_url} version {self.api_version}>"

    def close(self) -> None:
        self._reads.close()
        self._writes.close()

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
        as_organization: str = "",
        secret_note: str = "",
        parse: Callable[[Any], T] | None,
    ) -> T:
        """Sends one request, records it, and returns the answer's `data` read by `parse`
        (nothing is read when `parse` is None).

        Raises, from `errors` alone:
        - `PolytomicUnavailable`: transport failures (refused, reset, DNS, timeout, the call's
          deadline), an answer over the size limit, 429, 5xx, and a success whose body is not
          the JSON the contract promises; of a write that may have been done (sent, and no
          readable answer), its kind `PolytomicOutcomeUnknown`, recorded with the outcome unknown;
        - `PolytomicAuthenticationError` (401), `PolytomicForbidden` (403), `PolytomicNotFound` (404);
          of a call made as an organization (`as_organization`), 401 and 403 are
          `PolytomicBasicAuthRefused`, whose message names that way of calling as the cause;
        - `PolytomicValidationError` (409, 422);
        - `PolytomicError` for any other answer (400, other 4xx, redirects).

        `as_organization` asks as that organization (HTTP Basic auth with its id and the partner
        key) instead of as the partner (Bearer).
        """
        if (method in KEYED_METHODS) != bool(idempotency_key) or (
            idempotency_key and not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key)
        ):
            raise ValueError("POST and PUT need an Idempotency-Key of 8-255 letters, digits, '-' or '_'; no other")
        record = CallRecord(
            context=context,
            action=action,
            method=method,
            path=path,
            request_body=body,
            idempotency_key=idempotency_key,
            organization_id=organization_id,
            organization_name=organization_name,
            # Scrubbed wherever they are echoed, encoded too (the Basic credentials of a call as an
            # organization are the key in base64): orgadmin.polytomic.text.scrubber.
            secrets=(self._api_key, *((body or {}).get(name) or "" for name in SECRETS)),
            as_organization=as_organization,
            secret_note=secret_note,
        )
        if method != "GET":
            record_attempt(record)  # committed before anything is sent, or nothing is (AuditUnavailable)
        else:  # recorded once over: not sent while the audit log refuses entries (AuditUnavailable)
            refuse_reads_while_refused(action=action)
        started = time.monotonic()
        try:
            answer = self._exchange(method, path, body=body, record=record)
            failure = failure_for_answer(
                answer,
                idempotency_key=idempotency_key,
                scrub=shown_text_scrubber(record.secrets),
                as_organization=bool(as_organization),
            )
            if failure is not None:
                raise failure
            result = _read_data(answer, parse, method=method)
            if isinstance(result, Organization):
                record.identify(organization_id=result.id, organization_name=result.name)
            if isinstance(result, Entity):  # filed under the organization that owns it
                record.identify(organization_id=result.organization_id, organization_name="")
            if isinstance(result, ApiKey):  # kept out of anything recorded
                record.secrets = (*record.secrets, result.value)
        except PolytomicError as exc:
            record.fail(exc)
            self._record(record, started)
            raise
        except BaseException as exc:  # the worker stopping mid-call, say: a write may have been sent
            stopped = f"The call could not be completed ({type(exc).__name__})."
            record.fail(PolytomicOutcomeUnknown(stopped) if method != "GET" else PolytomicError(stopped))
            self._record(record, started)
            raise
        self._record(record, started)
        return result

    @staticmethod
    def _record(record: CallRecord, started: float) -> None:
        """Records the call's end. A read whose entry cannot be written raises AuditUnavailable:
        its answer is not shown, as no record covers it. A write's outcome that cannot be written
        is logged (by `audit.protocol.record`) and not raised: the write happened, its attempt is in
        the log with the outcome unknown, and hiding its result would invite a repeat."""
        try:
            record_call(record, duration_ms=(time.monotonic() - started) * 1000)
        except AuditUnavailable:
            if record.attempt_id is None:
                raise

    def _exchange(self, method: str, path: str, *, body: dict[str, Any] | None, record: CallRecord) -> Answer:
        """Sends the request and reads the answer, within the call's deadline and size limit;
        any failure on the way is a `PolytomicError`."""
        session = self._reads if method == "GET" else self._writes
        with deadline(self.total_timeout) as watched, counting_attempts() as attempts:
            try:
                response = session.request(
                    method,
                    f"{self.base_url}{path}",
                    data=None if body is None else json.dumps(body).encode(),
                    headers=self._headers(method, body=body, record=record),
                    allow_redirects=False,
                    stream=True,  # read by `read_answer`, which stops at the size limit
                )
                record.answered(status=response.status_code, headers=response.headers)
                answer = read_answer(response, max_bytes=self.max_response_bytes)
            except AnswerTooLarge:
                raise too_large(self.max_response_bytes, method=method, status=record.status) from None
            except requests.RequestException as exc:
                if watched.passed:
                    raise too_slow(self.total_timeout, method=method) from exc
                raise failure_for_transport(exc, self._timeout, method=method) from exc
            finally:
                record.attempts = attempts[0]
        if watched.passed:  # whatever was read, the watchdog broke the connection under it
            raise too_slow(self.total_timeout, method=method)
        record.answer = answer
        return answer

    def _headers(self, method: str, *, body: dict[str, Any] | None, record: CallRecord) -> dict[str, str]:
        headers = {
            "Authorization": (
                f"Basic {_basic(record.as_organization, self._api_key)}"
                if record.as_organization
                else f"Bearer {self._api_key}"
            ),
            "X-Polytomic-Version": self.api_version,
            "Accept": "application/json",
            "User-Agent": f"partner-organization-portal/{__version__}",
        }
        if record.context.request_id:
            headers["X-Request-ID"] = record.context.request_id
        if record.idempotency_key:
            headers["Idempotency-Key"] = record.idempotency_key
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def _read_data(answer: Answer, parse: Callable[[Any], T] | None, *, method: str) -> T:
    """The `data` of a success, read by `parse` (nothing is read when it is None)."""
    if parse is None:
        return None
    if not answer.is_json or not isinstance(answer.json, dict) or "data" not in answer.json:
        raise unreadable(answer.status, method=method)
    try:
        return parse(answer.json["data"])
    except ValueError:
        raise unreadable(answer.status, method=method) from None


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
