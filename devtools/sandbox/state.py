"""The sandbox's store and the API over it: organizations, their people and connections, the
partner keys that reach them, and the idempotency keys of POST and PUT.

Thread-safe: one lock guards all of it. The users, roles and keys are `PeopleApi`'s (people.py),
the connections `ConnectionsApi`'s (connections.py); faults and HTTP are the server's concern.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable

from devtools.sandbox.answers import Response, error
from devtools.sandbox.connections import CONNECTIONS_PATH, SHARED_PATH, ConnectionsApi, seeded_connections
from devtools.sandbox.entities import ENTITY_PATH, EntitiesApi
from devtools.sandbox.organizations import (
    OTHER_PARTNER_KEY,
    PARTNER_KEY,
    TEXT_FIELDS,
    Guess,
    StoredOrganization,
    seeded_organizations,
)
from devtools.sandbox.people import (
    ROLES_PATH,
    SYSTEM_ROLES,
    PeopleApi,
    PeopleGuess,
    StoredRole,
    basic_credentials,
    role_id,
    seeded_people,
)

ORGANIZATION_PATH = re.compile(r"^/api/organizations/(?P<id>[^/]+)$")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,255}$")


class SandboxState(PeopleApi, ConnectionsApi, EntitiesApi):
    """The seeded data, what requests change of it, and the answers of the API's endpoints."""

    def __init__(self, *, partner_keys: dict[str, str] | None = None) -> None:
        self.partner_keys = partner_keys or {PARTNER_KEY: "partner", OTHER_PARTNER_KEY: "other"}
        self.lock = threading.Lock()

    def reset_state(self) -> None:
        """Back to the seeded data, with no idempotency key remembered. The caller holds the lock."""
        self.organizations: dict[str, StoredOrganization] = {o.id: o for o in seeded_organizations()}
        self.roles, self.users = seeded_people(list(self.organizations.values()))
        self.stored_connections = seeded_connections(list(self.organizations.values()))
        self.idempotency: dict[tuple[str, str], Response | None] = {}  # None: still in flight

    def answer(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        query: dict[str, str],
        delay: Callable[[], None],
    ) -> Response:
        """The key is checked, the idempotency key reserved, `delay()` waited out (so a concurrent
        duplicate sees the first request in flight), and the request handled."""
        if path in (ROLES_PATH, CONNECTIONS_PATH):  # organization-scoped: a user's key, or Basic as the organization
            return self._as_organization(method, path, headers.get("authorization", ""), delay)
        partner = self.partner_keys.get(_bearer(headers.get("authorization", "")))
        if partner is None:
            return error(401, Guess.UNAUTHORIZED)
        # Keys count on POST and PUT; the idempotency guide sets none on GET or DELETE, and one
        # sent there is ignored, whatever it holds.
        key = headers.get("idempotency-key", "") if method in ("POST", "PUT") else ""
        if not key:
            delay()
            return self._route(method, path, partner, body, query)
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
            delay()
            response = self._route(method, path, partner, body, query)
        except BaseException:
            with self.lock:
                del self.idempotency[(partner, key)]
            raise
        with self.lock:
            self.idempotency[(partner, key)] = response
        return response

    def _as_organization(self, method: str, path: str, authorization: str, delay: Callable[[], None]) -> Response:
        organization_id, refusal = self._acting_organization(authorization)
        if refusal is not None:
            return refusal
        delay()
        if path == CONNECTIONS_PATH:
            return self._list_connections(organization_id) if method == "GET" else _not_allowed(method)
        return self._roles(method, organization_id)

    def _acting_organization(self, authorization: str) -> tuple[str, Response | None]:
        """The organization an organization-scoped call (roles, connections) acts as, or a refusal.
        A user's key (Bearer) acts as its user's organization: the published documents name it.
        HTTP Basic with an organization's id and the partner key acts as that organization, as
        Polytomic's Terraform provider asks (that Polytomic accepts it is a guess)."""
        token = _bearer(authorization)
        if token:
            if token in self.partner_keys:
                return "", error(401, PeopleGuess.ROLES_NEED_BASIC)
            with self.lock:
                user = next((u for u in self.users.values() if u.api_key is not None and u.api_key == token), None)
            return (user.organization_id, None) if user is not None else ("", error(401, Guess.UNAUTHORIZED))
        credentials = basic_credentials(authorization)
        if credentials is None:
            return "", error(401, PeopleGuess.ROLES_NEED_BASIC)
        organization_id, key = credentials
        partner = self.partner_keys.get(key)
        if partner is None:
            return "", error(401, Guess.UNAUTHORIZED)
        return organization_id, self._organization_refusal(organization_id, partner)

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

    # --- The Organizations API ---------------------------------------------------------------

    def _route(self, method: str, path: str, partner: str, body: bytes, query: dict[str, str]) -> Response:
        people = self._people(method, path, partner, body, query)
        if people is not None:
            return people
        if shared := SHARED_PATH.match(path):
            return self._shared(method, shared, partner, body)
        if entity := ENTITY_PATH.match(path):
            return self._entity(method, entity, partner)
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
                return error(409, Guess.NAME_TAKEN)
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
                return error(409, Guess.NAME_TAKEN)
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


def _not_allowed(method: str) -> Response:
    message, key = Guess.METHOD_NOT_ALLOWED
    return error(405, (message.format(method=method), key))


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
