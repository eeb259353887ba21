"""The sandbox's people of customer organizations: users, their roles and their API keys, with
the shapes of Polytomic's published users and roles documents (API version 2025-09-18:
polytomic-subpackage-users-api-openapi.yml and
polytomic-subpackage-permissions-subpackage-permissions-roles-api-openapi.yml in
api-evangelist/polytomic).

Written apart from the portal's client, as the rest of the sandbox is. What public material does
not confirm is in `PeopleGuess`, in one place.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from devtools.sandbox.answers import Response, error

USERS_PATH = re.compile(r"^/api/organizations/(?P<org>[^/]+)/users$")
USER_PATH = re.compile(r"^/api/organizations/(?P<org>[^/]+)/users/(?P<user>[^/]+)$")
KEYS_PATH = re.compile(r"^/api/organizations/(?P<org>[^/]+)/users/(?P<user>[^/]+)/keys$")
ROLES_PATH = "/api/permissions/roles"
SYSTEM_ROLES = ("Admin", "Member")
# The deprecated single role name: "one of `user` or `admin`" (Polytomic's Terraform docs,
# docs/resources/user.md), naming the system roles Member and Admin.
LEGACY_ROLES = {"admin": "Admin", "user": "Member"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PeopleGuess:
    """What the sandbox guesses Polytomic does where its documents and SDKs say nothing."""

    NO_SUCH_USER = ("user not found", "not_found")
    EMAIL_INVALID = ("email must be a valid email address", "validation_failed")
    EMAIL_TAKEN = ("a user with this email already exists in this organization", "user_exists")
    ROLES_BOTH = ("role and role_ids cannot be set together", "validation_failed")
    ROLES_EMPTY = ("role_ids must contain at least one role", "validation_failed")
    ROLES_UNKNOWN = ("role_ids must name roles of this organization", "validation_failed")
    ROLE_NAME_UNKNOWN = ("role must be user or admin", "validation_failed")
    # A user with a key gets a new one only with force=true (which revokes the old one first).
    HAS_KEY = ("the user already has an API key; pass force=true to revoke it and create a new one", "api_key_exists")
    # A partner key as a Bearer key on an organization-scoped list (roles, connections): the
    # documents name a user key or HTTP Basic as the organization, never this.
    ROLES_NEED_BASIC = (
        "roles are listed with HTTP Basic auth: the organization's id and the partner key",
        "unauthorized",
    )
    # A user with roles but no system one (a custom role alone): which deprecated name they get.
    LEGACY_ROLE_OF_OTHERS = "user"

    # Status of the refusal of a second key without force (400: any endpoint may answer it).
    HAS_KEY_STATUS = 400


@dataclass
class StoredRole:
    id: str
    organization_id: str
    name: str
    system: bool = False

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "organization_id": self.organization_id, "system": self.system}


@dataclass
class StoredUser:
    id: str
    organization_id: str
    email: str
    role_ids: list[str]
    api_key: str | None = field(default=None, repr=False)

    def public(self, roles: dict[str, StoredRole]) -> dict[str, Any]:
        names = {roles[role_id].name for role_id in self.role_ids if role_id in roles and roles[role_id].system}
        return {
            "id": self.id,
            "email": self.email,
            "organization_id": self.organization_id,
            "role_ids": list(self.role_ids),
            # The deprecated single role name: admin for an Admin, user for anyone else.
            "role": "admin" if LEGACY_ROLES["admin"] in names else PeopleGuess.LEGACY_ROLE_OF_OTHERS,
        }


def role_id(organization_id: str, name: str) -> str:
    """A role's id, the same on every run (seeded data)."""
    return str(uuid.uuid5(uuid.UUID(organization_id), name))


def seeded_people(organizations: list[Any]) -> tuple[dict[str, StoredRole], dict[str, StoredUser]]:
    """Every organization has the system roles; the seeded customers have a few users, Acme a custom role."""
    roles: dict[str, StoredRole] = {}
    for organization in organizations:
        for name in SYSTEM_ROLES:
            role = StoredRole(role_id(organization.id, name), organization.id, name, system=True)
            roles[role.id] = role
    users: dict[str, StoredUser] = {}
    for organization in organizations:
        if organization.owner:
            continue
        domain = organization.sso_domain or f"{organization.name.split()[0].lower()}.example"
        for n, (local, role) in enumerate((("it-admin", "Admin"), ("analyst", "Member"))):
            user = StoredUser(
                str(uuid.uuid5(uuid.UUID(organization.id), f"user-{n}")),
                organization.id,
                f"{local}@{domain}",
                [role_id(organization.id, role)],
            )
            users[user.id] = user
    acme = next((o for o in organizations if o.name == "Acme Corporation"), None)
    if acme is not None:
        custom = StoredRole(role_id(acme.id, "Data steward"), acme.id, "Data steward")
        roles[custom.id] = custom
    return roles, users


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """The user and password of an HTTP Basic Authorization header, if it is one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, separator, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if separator else None


class PeopleApi:
    """The users, roles and keys endpoints, mixed into `SandboxState` (which holds the store and lock)."""

    roles: dict[str, StoredRole]
    users: dict[str, StoredUser]

    def _people(self, method: str, path: str, partner: str, body: bytes, query: dict[str, str]) -> Response | None:
        """The answer to a people request, or None when the path is not one of theirs."""
        if keys := KEYS_PATH.match(path):
            if method != "POST":
                return self._not_allowed_here(method)
            return self._with_user(keys, partner, lambda user: self._new_key(user, query))
        if one := USER_PATH.match(path):
            handlers = {
                "GET": lambda user: Response(200, {"data": user.public(self.roles)}),
                "PUT": lambda user: self._update_user(user, body),
                "DELETE": lambda user: self._delete_user(user),
            }
            if method not in handlers:
                return self._not_allowed_here(method)
            return self._with_user(one, partner, handlers[method])
        if many := USERS_PATH.match(path):
            refusal = self._organization_refusal(many["org"], partner)
            if refusal is not None:
                return refusal
            if method == "GET":
                with self.lock:
                    mine = [u.public(self.roles) for u in self.users.values() if u.organization_id == many["org"]]
                return Response(200, {"data": mine})
            if method == "POST":
                return self._create_user(many["org"], body)
            return self._not_allowed_here(method)
        return None

    def _roles(self, method: str, organization_id: str) -> Response:
        """`GET /api/permissions/roles` as the organization named by Basic auth."""
        if method != "GET":
            return self._not_allowed_here(method)
        with self.lock:
            mine = [r.public() for r in self.roles.values() if r.organization_id == organization_id]
        return Response(200, {"data": mine})

    def _with_user(self, match: re.Match, partner: str, handle: Any) -> Response:
        refusal = self._organization_refusal(match["org"], partner)
        if refusal is not None:
            return refusal
        with self.lock:
            user = self.users.get(match["user"])
        if user is None or user.organization_id != match["org"]:
            return error(404, PeopleGuess.NO_SUCH_USER)
        return handle(user)

    def _create_user(self, organization_id: str, body: bytes) -> Response:
        payload, refusal = self._user_payload(organization_id, body)
        if refusal is not None:
            return refusal
        with self.lock:
            if any(u.organization_id == organization_id and u.email == payload["email"] for u in self.users.values()):
                return error(422, PeopleGuess.EMAIL_TAKEN, metadata={"email": PeopleGuess.EMAIL_TAKEN[0]})
            user = StoredUser(str(uuid.uuid4()), organization_id, payload["email"], payload["role_ids"])
            self.users[user.id] = user
            return Response(200, {"data": user.public(self.roles)})

    def _update_user(self, user: StoredUser, body: bytes) -> Response:
        """Only the role assignments change: the email, required in the body, "is not affected by
        this endpoint" (users document, operation update), whatever it says."""
        payload, refusal = self._user_payload(user.organization_id, body, email_kept=True)
        if refusal is not None:
            return refusal
        with self.lock:
            user.role_ids = payload["role_ids"]
            return Response(200, {"data": user.public(self.roles)})

    def _delete_user(self, user: StoredUser) -> Response:
        with self.lock:
            self.users.pop(user.id, None)
            return Response(200, {"data": user.public(self.roles)})  # the deleted user, as users.yml has it

    def _new_key(self, user: StoredUser, query: dict[str, str]) -> Response:
        force = query.get("force", "").lower() == "true"
        with self.lock:
            if user.api_key is not None and not force:
                return error(PeopleGuess.HAS_KEY_STATUS, PeopleGuess.HAS_KEY)
            user.api_key = "pk_" + secrets.token_urlsafe(24)
            return Response(200, {"data": {"value": user.api_key}})

    def _user_payload(
        self, organization_id: str, body: bytes, *, email_kept: bool = False
    ) -> tuple[dict[str, Any], Response | None]:
        """The request's email (lower-cased, as Polytomic does) and roles, or a refusal. With
        `email_kept` (an update), the email must be there, and what it says is not checked."""
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return {}, error(400, "the request body is not valid JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("email"), str):
            return {}, error(422, PeopleGuess.EMAIL_INVALID, metadata={"email": PeopleGuess.EMAIL_INVALID[0]})
        email = payload["email"].strip().lower()
        if not email_kept and not _EMAIL.match(email):
            return {}, error(422, PeopleGuess.EMAIL_INVALID, metadata={"email": PeopleGuess.EMAIL_INVALID[0]})
        role_ids, role = payload.get("role_ids"), payload.get("role")
        if role_ids is not None and role is not None:
            return {}, error(422, PeopleGuess.ROLES_BOTH, metadata={"role_ids": PeopleGuess.ROLES_BOTH[0]})
        with self.lock:
            mine = {r.id: r for r in self.roles.values() if r.organization_id == organization_id}
        if role is not None:  # the deprecated name of a system role
            system_name = LEGACY_ROLES.get(str(role).lower())
            named = [r.id for r in mine.values() if r.system and r.name == system_name]
            if not named:
                return {}, error(
                    422, PeopleGuess.ROLE_NAME_UNKNOWN, metadata={"role": PeopleGuess.ROLE_NAME_UNKNOWN[0]}
                )
            role_ids = named
        if not isinstance(role_ids, list) or not role_ids:
            return {}, error(422, PeopleGuess.ROLES_EMPTY, metadata={"role_ids": PeopleGuess.ROLES_EMPTY[0]})
        if not all(isinstance(r, str) and r in mine for r in role_ids):
            return {}, error(422, PeopleGuess.ROLES_UNKNOWN, metadata={"role_ids": PeopleGuess.ROLES_UNKNOWN[0]})
        return {"email": email, "role_ids": list(dict.fromkeys(role_ids))}, None
