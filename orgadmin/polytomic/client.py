"""The one place that talks to Polytomic's partner API (API version 2025-09-18).

Every call goes through `PolytomicClient._call`, in four named steps: send the request and read
the answer (`transport`), turn a failed answer, or none, into an exception (`errors`), read the
data of a good one, and record the call in the audit log (`recording`), whatever happened.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable, refuse_reads_while_refused
from orgadmin import __version__
from orgadmin.polytomic.connections import Connection, SharedConnection
from orgadmin.polytomic.errors import (
    PolytomicError,
    PolytomicOutcomeUnknown,
    failure_for_answer,
    failure_for_transport,
    too_large,
    too_slow,
    unreadable,
)
from orgadmin.polytomic.fields import SECRETS, Organization, OrganizationInput, Organizations
from orgadmin.polytomic.people import ApiKey, Role, User
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


@dataclass(frozen=True)
class Identity:
    """Who Polytomic takes the portal's key for (`GET /api/me`)."""

    is_partner: bool
    organization_id: str = ""
    organization_name: str = ""

    @classmethod
    def from_api(cls, data: Any) -> Identity:
        if not isinstance(data, Mapping):
            raise ValueError("not an identity")
        return cls(
            is_partner=data.get("is_partner") is True,
            organization_id=str(data.get("organization_id") or ""),
            organization_name=str(data.get("organization_name") or ""),
        )


class PolytomicClient:
    """Polytomic's partner API, for the portal's services and selectors."""

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
        return f"<PolytomicClient {self.base_url} version {self.api_version}>"

    def close(self) -> None:
        self._reads.close()
        self._writes.close()

    # Operations ------------------------------------------------------------------------------

    def get_identity(self, *, context: AuditContext) -> Identity:
        return self._call("GET", "/api/me", action=AuditEntry.Action.IDENTITY, context=context, parse=Identity.from_api)

    def list_organizations(self, *, context: AuditContext) -> Organizations:
        return self._call("GET", "/api/organizations", action=AuditEntry.Action.LIST, context=context, parse=_many)

    def get_organization(self, organization_id: UUID, *, context: AuditContext) -> Organization:
        return self._call(
            "GET",
            f"/api/organizations/{organization_id}",
            action=AuditEntry.Action.GET,
            context=context,
            organization_id=str(organization_id),
            parse=Organization.from_api,
        )

    def create_organization(
        self, data: OrganizationInput, *, idempotency_key: str, context: AuditContext
    ) -> Organization:
        return self._call(
            "POST",
            "/api/organizations",
            action=AuditEntry.Action.CREATE,
            context=context,
            body=data.body(),
            idempotency_key=idempotency_key,
            organization_name=data.name.strip(),
            parse=Organization.from_api,
        )

    def update_organization(
        self, organization_id: UUID, data: OrganizationInput, *, idempotency_key: str, context: AuditContext
    ) -> Organization:
        return self._call(
            "PUT",
            f"/api/organizations/{organization_id}",
            action=AuditEntry.Action.UPDATE,
            context=context,
            body=data.body(),
            idempotency_key=idempotency_key,
            organization_id=str(organization_id),
            organization_name=data.name.strip(),
            parse=Organization.from_api,
        )

    # A customer organization's people ---------------------------------------------------------

    def list_users(self, organization_id: UUID, *, context: AuditContext) -> list[User]:
        return self._call(
            "GET", f"/api/organizations/{organization_id}/users", action=AuditEntry.Action.USER_LIST,
            context=context, organization_id=str(organization_id), parse=_list_of(User.from_api),
        )  # fmt: skip

    def list_roles(self, organization_id: UUID, *, context: AuditContext) -> list[Role]:
        """The organization's roles: organization-scoped, so asked with HTTP Basic auth as the
        organization (its id, and the partner key), as Polytomic's Terraform provider asks."""
        return self._call(
            "GET", "/api/permissions/roles", action=AuditEntry.Action.ROLE_LIST, context=context,
            organization_id=str(organization_id), as_organization=str(organization_id), parse=_list_of(Role.from_api),
        )  # fmt: skip

    def invite_user(
        self, organization_id: UUID, *, email: str, role_ids: list[str], idempotency_key: str, context: AuditContext
    ) -> User:
        """Polytomic sends the new user an invitation email. `role_ids` only: never the
        deprecated `role` beside them."""
        return self._call(
            "POST", f"/api/organizations/{organization_id}/users", action=AuditEntry.Action.USER_INVITE,
            context=context, body={"email": email, "role_ids": role_ids}, idempotency_key=idempotency_key,
            organization_id=str(organization_id), parse=User.from_api,
        )  # fmt: skip

    def update_user_roles(
        self, organization_id: UUID, user_id: UUID, *, email: str, role_ids: list[str], idempotency_key: str,
        context: AuditContext,
    ) -> User:  # fmt: skip
        """Replaces the user's roles; the email is sent as the API requires, and does not change."""
        return self._call(
            "PUT", f"/api/organizations/{organization_id}/users/{user_id}", action=AuditEntry.Action.USER_UPDATE,
            context=context, body={"email": email, "role_ids": role_ids}, idempotency_key=idempotency_key,
            organization_id=str(organization_id), parse=User.from_api,
        )  # fmt: skip

    def delete_user(self, organization_id: UUID, user_id: UUID, *, context: AuditContext) -> None:
        """Permanent. Any 2xx is success (the contract's answers the deleted user)."""
        self._call(
            "DELETE", f"/api/organizations/{organization_id}/users/{user_id}", action=AuditEntry.Action.USER_DELETE,
            context=context, organization_id=str(organization_id), parse=None,
        )  # fmt: skip

    def create_api_key(
        self, organization_id: UUID, user_id: UUID, *, force: bool, idempotency_key: str, context: AuditContext
    ) -> ApiKey:
        """A new API key for the user; with `force`, Polytomic first revokes the key they have.
        The key is in this answer only: it is never recorded (the audit entry keeps whether one
        was made, and `force` in its path)."""
        return self._call(
            "POST", f"/api/organizations/{organization_id}/users/{user_id}/keys?force={str(force).lower()}",
            action=AuditEntry.Action.USER_KEY, context=context, idempotency_key=idempotency_key,
            organization_id=str(organization_id), parse=ApiKey.from_api,
        )  # fmt: skip

    def list_connections(self, owner_id: UUID, *, context: AuditContext) -> list[Connection]:
        """The partner's own connections: asked as its owner organization (HTTP Basic)."""
        return self._call(
            "GET", "/api/connections", action=AuditEntry.Action.CONNECTION_LIST, context=context,
            organization_id=str(owner_id), as_organization=str(owner_id), parse=_list_of(Connection.from_api),
        )  # fmt: skip

    def share_connection(
        self, owner_id: UUID, connection_id: UUID, *, into: UUID, idempotency_key: str, context: AuditContext
    ) -> SharedConnection:
        """Shares one of the partner's connections into the customer organization `into`."""
        return self._call(
            "POST", f"/api/organizations/{owner_id}/connections/{connection_id}/shared",
            action=AuditEntry.Action.CONNECTION_SHARE, context=context, body={"child_organization_id": str(into)},
            idempotency_key=idempotency_key, organization_id=str(into), parse=SharedConnection.from_api,
        )  # fmt: skip

    def list_shared_connections(
        self, owner_id: UUID, connection_id: UUID, *, context: AuditContext
    ) -> list[SharedConnection]:
        """The copies of one of the partner's connections, each in the organization it was shared into."""
        return self._call(
            "GET", f"/api/organizations/{owner_id}/connections/{connection_id}/shared",
            action=AuditEntry.Action.CONNECTION_SHARED_LIST, context=context, organization_id=str(owner_id),
            parse=_list_of(SharedConnection.from_api),
        )  # fmt: skip

    def delete_organization(self, organization_id: UUID, *, context: AuditContext, organization_name: str = "") -> None:
        """Any 2xx is success, with or without a body (the contract's 200 has none)."""
        self._call(
            "DELETE",
            f"/api/organizations/{organization_id}",
            action=AuditEntry.Action.DELETE,
            context=context,
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
        as_organization: str = "",
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
        )
        if method != "GET":
            record_attempt(record)  # committed before anything is sent, or nothing is (AuditUnavailable)
        else:  # recorded once over: not sent while the audit log refuses entries (AuditUnavailable)
            refuse_reads_while_refused(action=action)
        started = time.monotonic()
        try:
            answer = self._exchange(method, path, body=body, record=record)
            failure = failure_for_answer(
                answer, idempotency_key=idempotency_key, scrub=shown_text_scrubber(record.secrets)
            )
            if failure is not None:
                raise failure
            result = _read_data(answer, parse, method=method)
            if isinstance(result, Organization):
                record.identify(organization_id=result.id, organization_name=result.name)
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


def _many(data: Any) -> Organizations:
    if data is None:  # "data": null is an empty list
        return Organizations([])
    if not isinstance(data, list):
        raise ValueError("data is not a list")
    return Organizations(data)


def _list_of(item: Any) -> Any:
    """A reader of a list of `item`s: `data` null is an empty list."""

    def read(data: Any) -> list:
        if data is None:
            return []
        if not isinstance(data, list):
            raise ValueError("data is not a list")
        return [item(entry) for entry in data]

    return read


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
