"""A stand-in for Polytomic's partner API, for the demo, the tests and load runs.

A WSGI application serving the API as Polytomic's published documents describe it (API version
2025-09-18), as strictly as the real service is likely to be: bearer partner keys, full
replacement of the SSO/OIDC configuration on update, write-only OIDC credentials, idempotency
keys on POST and PUT, and the error shapes. What public material does not confirm is in `Guess`.
Polytomic's own Python SDK is tested against it (tests/test_sandbox_sdk.py), and what it answers
the portal and the SDK is checked against the published contract after every test
(tests/contract.py).

Beside the API, for tests and load runs only (never part of Polytomic):
- `GET /_sandbox/requests`: the API requests received (authorization masked), the TCP connections
  accepted (HTTP/1.1 keep-alive, so pooled clients reuse them), and how many bytes of each
  trickled answer went out before the client hung up; `POST /_sandbox/reset`
  restores the seeded state and clears the log, the idempotency keys and the faults.
- `POST /_sandbox/faults`: `{"latency_ms": 50, "rate": 0.05, "mix": ["status:503", "drop"],
  "seed": 1, "queue": [{"method": "PUT", "path": "/api/organizations/<id>", "fault": "status:500"}]}`.
  Queued faults answer the next matching request once each; `rate` applies a random fault of `mix`
  to that share of all requests; `latency_ms` is added to every request. Faults: `latency:<ms>`,
  `status:<code>` (401 also `status:401:legacy` and `status:401:nested`), `hang` (no answer until
  the client gives up), `garbage` (a 200 that is not JSON), `drop` (the connection breaks
  mid-answer), `trickle:<ms>` (the request is handled, and its answer sent a byte every <ms> ms),
  `huge:<bytes>` (the request is handled, and answered with a 200 of that many bytes, declared),
  `hold` (the request waits in flight, its idempotency key reserved, until a test sets
  `Sandbox.release`; `Sandbox.held` says it is waiting).
  A queued rule may instead carry `"answer": {"status": 422, "body": {...}}` (or `"text"` for a
  body that is not JSON, and `"headers"`): that exact answer, once, as if Polytomic sent it.
  An `X-Sandbox-Fault` request header injects one for that request. All off by default.
"""

from __future__ import annotations

import json
import random
import re
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from devtools import tls
from devtools.sandbox_connections import CONNECTIONS_PATH, SHARED_PATH, ConnectionsApi, seeded_connections
from devtools.sandbox_people import (
    ROLES_PATH,
    SYSTEM_ROLES,
    PeopleApi,
    PeopleGuess,
    StoredRole,
    basic_credentials,
    role_id,
    seeded_people,
)

PARTNER_KEY = "sandbox-partner-key"
OTHER_PARTNER_KEY = "sandbox-other-partner-key"
DEFAULT_VERSION = "2025-09-18"
HANG_SECONDS = 60.0
# Faults that let the request be handled and then spoil its answer (in `Sandbox.__call__`).
ANSWER_FAULTS = frozenset({"drop", "trickle", "huge", "hold"})

# Seeded organizations, with fixed ids so that demos, tests and docs can name them.
OWNER_ID = "7a1f0c2e-0000-4000-8000-000000000001"
ACME_ID = "7a1f0c2e-0000-4000-8000-000000000002"
GLOBEX_ID = "7a1f0c2e-0000-4000-8000-000000000003"
INITECH_ID = "7a1f0c2e-0000-4000-8000-000000000004"
FOREIGN_ID = "7a1f0c2e-0000-4000-8000-0000000000ff"  # belongs to another partner: 403

ORGANIZATION_PATH = re.compile(r"^/api/organizations/(?P<id>[^/]+)$")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,255}$")
# The request schema's fields (CreateOrganizationRequestSchema, API version 2025-09-18), written
# here apart from the portal's own table: the sandbox is what the portal is checked against.
TEXT_FIELDS = ("name", "sso_domain", "sso_org_id", "issuer", "client_id", "client_secret")
OIDC_TRIPLE = ("issuer", "client_id", "client_secret")


# --- What public material does not confirm --------------------------------------------------------
#
# Everything in `Guess` is the sandbox's guess at what Polytomic does where its documents, SDKs
# and Terraform provider say nothing. The portal must cope with Polytomic doing otherwise;
# `Sandbox(bare_errors=True)` drops the guessed `key` and `metadata` from every error, as the
# published ApiError allows. The checks are written here, not taken from the portal, so that
# tests against the sandbox do not only confirm the portal to itself.


class Guess:
    # Error wording and `key` strings.
    UNAUTHORIZED = ("invalid or unknown API key", "unauthorized")
    NOT_FOUND = ("organization not found", "not_found")
    FOREIGN = ("this organization belongs to another partner", "forbidden")  # 403, not 404
    OWNER_DELETE = ("partner callers cannot delete their own owner organization", "forbidden")
    NAME_TAKEN = ("an organization with this name already exists", "organization_name_taken")
    IN_FLIGHT = ("a request with this Idempotency-Key is already in progress", "idempotency_key_in_use")
    INVALID = ("validation failed", "validation_failed")  # 422, with `metadata` keyed by field name
    # 400 for a request the API cannot read, 404 for a path it has not, 405 for a method it takes not.
    BAD_KEY = ("Idempotency-Key must be 8-255 letters, digits, '-' or '_'", "invalid_idempotency_key")
    NOT_JSON = ("the request body is not valid JSON", "invalid_request")
    NOT_OBJECT = ("the request body must be a JSON object", "invalid_request")
    NOT_TEXT = ("{name} must be a string", "invalid_request")
    NO_SUCH_PATH = ("not found", "not_found")
    METHOD_NOT_ALLOWED = ("{method} is not allowed here", "method_not_allowed")

    @staticmethod
    def same_name(one: str, other: str) -> bool:
        """Names are unique regardless of case."""
        return one.casefold() == other.casefold()

    @staticmethod
    def problems(fields: dict[str, str | None]) -> dict[str, str]:
        """What Polytomic might refuse in an organization's fields, by field name: no name, an
        issuer that is not https, a domain that is not bare, some of the OIDC fields without
        the others."""
        problems: dict[str, str] = {}
        if fields["name"] is None:
            problems["name"] = "name is required"
        issuer = fields["issuer"]
        if issuer is not None and not _https_with_host(issuer):
            problems["issuer"] = "issuer must be an https:// URL"
        domain = fields["sso_domain"]
        if domain is not None and not _bare_domain(domain):
            problems["sso_domain"] = "sso_domain must be a bare domain such as example.com"
        given = [name for name in OIDC_TRIPLE if fields[name] is not None]
        for name in OIDC_TRIPLE:
            if given and fields[name] is None:
                problems[name] = f"{name} is required when any of issuer, client_id, client_secret is set"
        return problems


def _https_with_host(value: str) -> bool:
    scheme, separator, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    return scheme == "https" and bool(separator) and bool(host) and "@" not in host and not re.search(r"\s", value)


def _bare_domain(value: str) -> bool:
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
        and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels)
    )


@dataclass
class StoredOrganization:
    id: str
    partner: str
    name: str
    sso_domain: str | None = None
    sso_org_id: str | None = None
    issuer: str | None = None
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    owner: bool = False

    def public(self) -> dict[str, Any]:
        """What the API returns: never `client_id` or `client_secret`, and an unset field left
        out (the Organization schema types every field as a plain string, never null)."""
        fields = {"id": self.id, "name": self.name, "issuer": self.issuer}
        fields |= {"sso_domain": self.sso_domain, "sso_org_id": self.sso_org_id}
        return {name: value for name, value in fields.items() if value is not None}


def seeded_organizations() -> list[StoredOrganization]:
    return [
        StoredOrganization(OWNER_ID, "partner", "Northwind Partners", owner=True),
        StoredOrganization(ACME_ID, "partner", "Acme Corporation", sso_domain="acme.example", sso_org_id="org_01ACME"),
        StoredOrganization(
            GLOBEX_ID,
            "partner",
            "Globex",
            sso_domain="globex.example",
            issuer="https://globex.okta.example",
            client_id="0oa-globex-client",
            client_secret="globex-oidc-secret",  # noqa: S106 (seed data of a fake service)
        ),
        StoredOrganization(INITECH_ID, "partner", "Initech"),
        StoredOrganization(FOREIGN_ID, "other", "Umbrella (another partner)", owner=True),
    ]


class Response:
    """One answer: status, headers, and a body (JSON-able, or bytes sent as they are)."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


def error(
    status: int, message: str | tuple[str, str], *, key: str = "", metadata: dict[str, Any] | None = None
) -> Response:
    """An ApiError answer; `message` may be one of the `Guess` pairs of wording and key."""
    if isinstance(message, tuple):
        message, key = message
    body: dict[str, Any] = {"status": status, "message": message}
    if key:
        body["key"] = key
    if metadata is not None:
        body["metadata"] = metadata
    return Response(status, body)


class DropConnection(Exception):
    """Raised mid-answer: the server closes the connection without finishing the response."""


@dataclass
class Faults:
    latency_ms: float = 0
    rate: float = 0
    mix: list[str] = field(default_factory=lambda: ["status:500", "status:503", "drop", "garbage"])
    queue: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)  # faults, not secrets

    def take(self, method: str, path: str, header: str) -> str | dict[str, Any] | None:
        """The fault for this request, if any: the header's, a queued one (a fault's name, or a
        scripted answer as a dict), or one drawn at `rate`."""
        if header:
            return header
        for index, rule in enumerate(self.queue):
            if rule.get("method", method).upper() == method and rule.get("path", path) == path:
                del self.queue[index]
                return dict(rule["answer"]) if "answer" in rule else str(rule["fault"])
        if self.rate and self.rng.random() < self.rate:
            return self.rng.choice(self.mix)
        return None


class Sandbox(PeopleApi, ConnectionsApi):
    """The sandbox's state and its WSGI application. Thread-safe: one lock guards all state.
    The users, roles and keys of customer organizations are `PeopleApi`'s (sandbox_people.py)."""

    def __init__(self, *, partner_keys: dict[str, str] | None = None, bare_errors: bool = False) -> None:
        self.partner_keys = partner_keys or {PARTNER_KEY: "partner", OTHER_PARTNER_KEY: "other"}
        # Errors as bare {"status", "message"}: without the guessed `key` and `metadata`.
        self.bare_errors = bare_errors
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.organizations: dict[str, StoredOrganization] = {o.id: o for o in seeded_organizations()}
            self.roles, self.users = seeded_people(list(self.organizations.values()))
            self.stored_connections = seeded_connections(list(self.organizations.values()))
            self.idempotency: dict[tuple[str, str], Response | None] = {}  # None: still in flight
            self.received: list[dict[str, Any]] = []
            self.connections = 0  # TCP connections accepted
            self.trickles: list[dict[str, Any]] = []  # answers sent a byte at a time: how far each got
            self.trickle_ended = threading.Event()  # set as each of them ends
            self.held, self.release = threading.Event(), threading.Event()  # the `hold` fault
            self.faults = Faults()

    def count_connection(self) -> None:
        with self.lock:
            self.connections += 1

    # --- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "")
        body = _read_body(environ)
        if path.startswith("/_sandbox/"):
            response = self._control(method, path, body)
            fault = None
        elif path.startswith("/_idp/"):
            base = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
            response = _identity_provider(path, base)
            fault = None
        else:
            headers = _request_headers(environ)
            exchange = {
                "method": method,
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "peer_port": int(environ.get("REMOTE_PORT") or 0),
                "headers": _masked(headers),
                "body": _decoded(body),
            }
            with self.lock:
                self.received.append(exchange)
                fault = self.faults.take(method, path, headers.get("x-sandbox-fault", ""))
                latency_ms = self.faults.latency_ms
            query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            response = self._api(method, path, headers, body, fault, latency_ms, query)
            response.headers.setdefault("X-Polytomic-Version", headers.get("x-polytomic-version") or DEFAULT_VERSION)
            if self.bare_errors and response.status >= 400 and isinstance(response.body, dict):
                response.body = {name: response.body[name] for name in ("status", "message") if name in response.body}
            # What was answered, for the contract tests (a fault's answer is no answer of Polytomic's).
            body = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else response.body
            exchange["answer"] = {"status": response.status, "body": body, "fault": fault is not None}
        payload = response.encoded()
        response_headers = [(name, value) for name, value in response.headers.items()]
        if payload:
            response_headers.append(("Content-Type", response.headers.get("Content-Type", "application/json")))
        kind, _, argument = fault.partition(":") if isinstance(fault, str) else ("", "", "")
        if kind == "drop":
            # Promise a body, send half of it, then break the connection.
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])
            return _dropping(b'{"data": [{"id": "')
        if kind == "huge":
            size = int(argument or 0)
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(size))])
            return _huge(size)
        if kind == "trickle":
            response_headers.append(("Content-Length", str(len(payload))))
            start_response(f"{response.status} {_reason(response.status)}", _unique(response_headers))
            return self._trickled(path, payload, float(argument or 100) / 1000)
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {_reason(response.status)}", _unique(response_headers))
        return [payload]

    # --- The Organizations API ---------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        fault: str | dict[str, Any] | None,
        latency_ms: float,
        query: dict[str, str] | None = None,
    ) -> Response:
        """Faults that stand in for a broken network or proxy answer first; then the key is
        checked, the idempotency key reserved, the added latency waited out (so a concurrent
        duplicate sees the first request in flight), and the request handled."""
        if isinstance(fault, dict):
            return _scripted(fault)
        kind, _, argument = (fault or "").partition(":")
        if kind == "latency":
            latency_ms += float(argument or 0)
        elif fault is not None and kind not in ANSWER_FAULTS:
            return self._fault(kind, argument)
        hold = kind == "hold"
        if path in (ROLES_PATH, CONNECTIONS_PATH):  # organization-scoped: HTTP Basic, its id and the partner key
            return self._as_organization(method, path, headers.get("authorization", ""), latency_ms, hold=hold)
        partner = self.partner_keys.get(_bearer(headers.get("authorization", "")))
        if partner is None:
            return error(401, Guess.UNAUTHORIZED)
        # Keys count on POST and PUT; the idempotency guide sets none on GET or DELETE, and one
        # sent there is ignored, whatever it holds.
        key = headers.get("idempotency-key", "") if method in ("POST", "PUT") else ""
        if not key:
            self._delay(latency_ms, hold=hold)
            return self._route(method, path, partner, body, query or {})
        if not IDEMPOTENCY_KEY.match(key):
            return error(400, Guess.BAD_KEY)
        with self.lock:
            if (partner, key) in self.idempotency:
                earlier = self.idempotency[(partner, key)]
                if earlier is None:
                    return error(409, Guess.IN_FLIGHT)
                return earlier  # the first outcome, errors included, replayed
            self.idempotency[(partner, key)] = None
        try:
            self._delay(latency_ms, hold=hold)
            response = self._route(method, path, partner, body, query or {})
        except BaseException:
            with self.lock:
                del self.idempotency[(partner, key)]
            raise
        with self.lock:
            self.idempotency[(partner, key)] = response
        return response

    def _delay(self, latency_ms: float, *, hold: bool) -> None:
        """The added latency; a held request (fault `hold`) says so on `held` and waits, in
        flight with its idempotency key reserved, until a test sets `release` (or the sandbox stops)."""
        if hold:
            self.held.set()
            self.release.wait(HANG_SECONDS)
        _wait(latency_ms)

    def _as_organization(
        self, method: str, path: str, authorization: str, latency_ms: float, *, hold: bool
    ) -> Response:
        credentials = basic_credentials(authorization)
        if credentials is None:
            return error(401, PeopleGuess.ROLES_NEED_BASIC)
        organization_id, key = credentials
        partner = self.partner_keys.get(key)
        if partner is None:
            return error(401, Guess.UNAUTHORIZED)
        refusal = self._organization_refusal(organization_id, partner)
        if refusal is not None:
            return refusal
        self._delay(latency_ms, hold=hold)
        if path == CONNECTIONS_PATH:
            return self._list_connections(organization_id, Response) if method == "GET" else _not_allowed(method)
        return self._roles(method, organization_id, Response, error)

    def _organization_refusal(self, organization_id: str, partner: str) -> Response | None:
        """Why the partner may not reach this organization (404, or 403 for another's), or None."""
        with self.lock:
            organization = self.organizations.get(organization_id)
        if organization is None:
            return error(404, Guess.NOT_FOUND)
        if organization.partner != partner:
            return error(403, Guess.FOREIGN)
        return None

    def _not_allowed_here(self, method: str) -> Response:
        return _not_allowed(method)

    def _route(self, method: str, path: str, partner: str, body: bytes, query: dict[str, str]) -> Response:
        people = self._people(method, path, partner, body, query, error, Response)
        if people is not None:
            return people
        if shared := SHARED_PATH.match(path):
            return self._shared(method, shared, partner, body, error, Response)
        if path == "/api/me":
            return self._identity(partner) if method == "GET" else _not_allowed(method)
        if path == "/api/organizations":
            if method == "GET":
                return self._list(partner)
            if method == "POST":
                return self._create(partner, body)
            return _not_allowed(method)
        match = ORGANIZATION_PATH.match(path)
        if match is None:
            return error(404, Guess.NO_SUCH_PATH)
        with self.lock:
            organization = self.organizations.get(match["id"])
        if organization is None:
            return error(404, Guess.NOT_FOUND)
        if organization.partner != partner:
            return error(403, Guess.FOREIGN)
        if method == "GET":
            return Response(200, {"data": organization.public()})
        if method == "PUT":
            return self._update(partner, organization, body)
        if method == "DELETE":
            return self._delete(organization)
        return _not_allowed(method)

    def _identity(self, partner: str) -> Response:
        """`GET /api/me` for a partner key: the key's class, and the partner's own organization."""
        with self.lock:
            owner = next(o for o in self.organizations.values() if o.partner == partner and o.owner)
        identity = {"is_partner": True, "is_user": False, "is_organization": False, "is_system": False}
        return Response(200, {"data": identity | {"organization_id": owner.id, "organization_name": owner.name}})

    def _list(self, partner: str) -> Response:
        with self.lock:
            mine = [o for o in self.organizations.values() if o.partner == partner]
        mine.sort(key=lambda o: not o.owner)  # the owner organization first, then in creation order
        return Response(200, {"data": [o.public() for o in mine]})

    def _create(self, partner: str, body: bytes) -> Response:
        fields, failure = self._validated(body)
        if failure is not None:
            return failure
        organization = StoredOrganization(id=str(uuid.uuid4()), partner=partner, **fields)
        with self.lock:
            if self._name_taken(partner, organization.name, exclude_id=None):
                return _name_taken()
            self.organizations[organization.id] = organization
            for name in SYSTEM_ROLES:  # every organization has the system roles
                role = StoredRole(role_id(organization.id, name), organization.id, name, system=True)
                self.roles[role.id] = role
        return Response(200, {"data": organization.public()})

    def _update(self, partner: str, organization: StoredOrganization, body: bytes) -> Response:
        fields, failure = self._validated(body)
        if failure is not None:
            return failure
        with self.lock:
            if self._name_taken(partner, fields["name"], exclude_id=organization.id):
                return _name_taken()
            # Full replacement: every field absent or null in the body is cleared.
            for name, value in fields.items():
                setattr(organization, name, value)
        return Response(200, {"data": organization.public()})

    def _delete(self, organization: StoredOrganization) -> Response:
        if organization.owner:
            return error(403, Guess.OWNER_DELETE)
        with self.lock:
            self.organizations.pop(organization.id, None)
            self.users = {k: u for k, u in self.users.items() if u.organization_id != organization.id}
            self.roles = {k: r for k, r in self.roles.items() if r.organization_id != organization.id}
        return Response(200)  # "Successful response (no body)", as the published spec has it

    def _validated(self, body: bytes) -> tuple[dict[str, str | None], Response | None]:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return {}, error(400, Guess.NOT_JSON)
        if not isinstance(payload, dict):
            return {}, error(400, Guess.NOT_OBJECT)
        fields: dict[str, str | None] = {}
        for name in TEXT_FIELDS:
            value = payload.get(name)
            if value is not None and not isinstance(value, str):
                message, key = Guess.NOT_TEXT
                return {}, error(400, (message.format(name=name), key))
            fields[name] = value.strip() if isinstance(value, str) and value.strip() else None
        problems = Guess.problems(fields)
        if problems:
            return {}, error(422, Guess.INVALID, metadata=problems)
        return fields, None

    def _name_taken(self, partner: str, name: str, *, exclude_id: str | None) -> bool:
        return any(
            o.partner == partner and o.id != exclude_id and Guess.same_name(o.name, name)
            for o in self.organizations.values()
        )

    # --- Faults ------------------------------------------------------------------------------

    def _trickled(self, path: str, payload: bytes, interval: float) -> Iterator[bytes]:
        """The answer a byte at a time; how much of it went out is kept in `trickles`."""
        sent = 0
        try:
            for index in range(len(payload)):
                if index and self.stopping.wait(interval):
                    return
                yield payload[index : index + 1]
                sent += 1
        finally:
            with self.lock:
                self.trickles.append({"path": path, "sent": sent, "of": len(payload)})
            self.trickle_ended.set()

    def _fault(self, kind: str, argument: str) -> Response:
        if kind == "hang":
            self.stopping.wait(HANG_SECONDS)
            return error(504, "the sandbox stopped waiting")
        if kind == "garbage":
            return Response(
                200, b"<html><body>Service temporarily unavailable</body></html>", {"Content-Type": "text/html"}
            )
        if kind == "status":
            code, _, shape = argument.partition(":")
            return _status_fault(int(code), shape)
        return error(400, f"unknown sandbox fault {kind!r}")

    # --- Control endpoints (tests and load runs) -----------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if (method, path) == ("GET", "/_sandbox/requests"):
            with self.lock:
                return Response(
                    200, {"requests": list(self.received), "connections": self.connections, "trickles": self.trickles}
                )
        if (method, path) == ("POST", "/_sandbox/reset"):
            self.reset()
            return Response(204)
        if (method, path) == ("POST", "/_sandbox/faults"):
            try:
                settings = json.loads(body or b"{}")
                faults = Faults(
                    latency_ms=float(settings.get("latency_ms", 0)),
                    rate=float(settings.get("rate", 0)),
                    queue=list(settings.get("queue", [])),
                    rng=random.Random(settings.get("seed")),  # noqa: S311 (drawing faults, not secrets)
                )
                if "mix" in settings:
                    faults.mix = [str(kind) for kind in settings["mix"]]
            except (ValueError, TypeError, AttributeError):
                return error(400, "faults must be a JSON object as documented in devtools/sandbox.py")
            with self.lock:
                self.faults = faults
            return Response(200, {"faults": {k: v for k, v in asdict(faults).items() if k != "rng"}})
        return error(404, "no such sandbox endpoint")


def _status_fault(code: int, shape: str) -> Response:
    if code == 401 and shape == "legacy":
        return Response(401, {"code": 401, "context": {}, "error": "unauthorized", "status": "Unauthorized"})
    if code == 401 and shape == "nested":
        return Response(401, {"error": {"message": "invalid or unknown API key"}})
    if code in (502, 503, 504):  # as a proxy in front of the API would answer
        html = f"<html><head><title>{code}</title></head><body><h1>{code} {_reason(code)}</h1></body></html>"
        return Response(code, html.encode(), {"Content-Type": "text/html"})
    response = error(code, f"sandbox fault: {_reason(code).lower()}")
    if code == 429:
        response.headers["Retry-After"] = "1"
    return response


def _scripted(answer: dict[str, Any]) -> Response:
    """A queued rule's exact answer: what Polytomic, or something in front of it, might send."""
    headers = {str(name): str(value) for name, value in (answer.get("headers") or {}).items()}
    if "text" in answer:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return Response(int(answer.get("status", 200)), str(answer["text"]).encode(), headers)
    return Response(int(answer.get("status", 200)), answer.get("body"), headers)


def _identity_provider(path: str, base: str) -> Response:
    """A customer's identity provider, as far as the portal's issuer check looks: the discovery
    document of `/_idp/<tenant>`. Tenants: `good` (names itself), `trailing-slash` (names itself
    with a trailing slash, the classic broken setup), `moved` (redirects), `garbage` (not JSON)."""
    tenant, _, rest = path.removeprefix("/_idp/").partition("/")
    if rest != ".well-known/openid-configuration":
        return error(404, "no such document")
    issuer = f"{base}/_idp/{tenant}"
    if tenant == "moved":
        return Response(302, None, {"Location": "http://169.254.169.254/latest/meta-data/"})
    if tenant == "garbage":
        return Response(200, b"<html>not a discovery document</html>", {"Content-Type": "text/html"})
    named = issuer + "/" if tenant == "trailing-slash" else issuer
    return Response(200, {"issuer": named, "authorization_endpoint": f"https://login.{tenant}.example/authorize"})


def _name_taken() -> Response:
    return error(409, Guess.NAME_TAKEN)


def _not_allowed(method: str) -> Response:
    message, key = Guess.METHOD_NOT_ALLOWED
    return error(405, (message.format(method=method), key))


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _masked(headers: dict[str, str]) -> dict[str, str]:
    masked = dict(headers)
    if "authorization" in masked:
        scheme = masked["authorization"].partition(" ")[0]
        masked["authorization"] = f"{scheme} [masked]"
    return masked


def _decoded(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _unique(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        seen[name.lower()] = (name, value)
    return list(seen.values())


def _wait(milliseconds: float) -> None:
    if milliseconds > 0:
        time.sleep(milliseconds / 1000)


def _huge(size: int) -> Iterator[bytes]:
    """`size` bytes of one JSON object, whose name holds nearly all of them."""
    head, tail = b'{"data": {"id": "7a1f0c2e-0000-4000-8000-00000000f00d", "name": "', b'"}}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        chunk = min(left, 64 * 1024)
        yield b"x" * chunk
        left -= chunk
    yield tail


def _dropping(first_part: bytes) -> Iterator[bytes]:
    yield first_part
    raise DropConnection


# --- Serving -----------------------------------------------------------------------------------


class _ServerHandler(ServerHandler):
    http_version = "1.1"

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        # HTTP/1.1: a server that will close the connection says so, or the client may pool it.
        if self.request_handler.close_connection:
            self.headers["Connection"] = "close"

    def log_exception(self, exc_info: Any) -> None:
        if isinstance(exc_info[1], DropConnection):
            self.request_handler.close_connection = True  # the answer is broken: so is the connection
        else:
            super().log_exception(exc_info)


class _KeepAliveHandler(WSGIRequestHandler):
    """wsgiref's handler speaking HTTP/1.1 with keep-alive, as an API behind a load balancer does,
    so that clients' connection pooling is exercised; no access log, no traceback for a drop."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this many seconds
    # wsgiref writes the headers and the body separately: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK hold each answer on a kept-alive connection for ~40 ms.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # also decides close_connection from the request's headers
            self.close_connection = True
            return
        handler = _ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())
        self.wfile.flush()

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["REMOTE_PORT"] = str(self.client_address[1])  # which of the client's connections it came on
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SandboxServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def process_request(self, request: Any, client_address: Any) -> None:
        self.get_app().count_connection()
        super().process_request(request, client_address)


class RunningSandbox:
    """A sandbox served on loopback from a background thread; `stop()` ends it.

    `tls_url` serves the same sandbox over https, with a certificate made for 127.0.0.1 that only
    `ca_file` trusts: where an https URL is required (a customer's OIDC issuer, `/_idp/...`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox()
        self.server = make_server(host, port, self.sandbox, server_class=SandboxServer, handler_class=_KeepAliveHandler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.servers = [self.server]
        self.threads = [self._serve(self.server)]
        self.host, self.tls_url, self.ca_file = host, "", ""
        self.certificate_dir: tempfile.TemporaryDirectory | None = None

    def _serve(self, server: WSGIServer) -> threading.Thread:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        return thread

    def serve_tls(self) -> str:
        """Starts the https listener (once); its base URL."""
        if not self.tls_url:
            self.certificate_dir = tempfile.TemporaryDirectory(prefix="sandbox-tls-")
            self.ca_file, key_file = tls.self_signed(self.host, Path(self.certificate_dir.name))
            server = make_server(
                self.host, 0, self.sandbox, server_class=SandboxServer, handler_class=_KeepAliveHandler
            )
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_file, key_file)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.base_environ["HTTPS"] = "on"  # wsgi.url_scheme https
            self.servers.append(server)
            self.threads.append(self._serve(server))
            self.tls_url = f"https://{self.host}:{server.server_address[1]}"
        return self.tls_url

    def stop(self) -> None:
        self.sandbox.stopping.set()  # releases hanging requests
        self.sandbox.release.set()  # and held ones
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=10)
        if self.certificate_dir is not None:
            self.certificate_dir.cleanup()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
