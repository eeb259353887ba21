"""The one place that talks to Polytomic's partner API (API version 2025-09-18): one method a call,
each naming its path, its audit action and how its answer is read. How a call is made, sent,
mapped to exceptions and recorded is `calls.PolytomicCalls._call`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from django.conf import settings

from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.polytomic.calls import PolytomicCalls
from orgadmin.polytomic.connections import Connection, SharedConnection
from orgadmin.polytomic.entities import Entity
from orgadmin.polytomic.fields import Organization, OrganizationInput, Organizations
from orgadmin.polytomic.people import ApiKey, Role, User


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


class PolytomicClient(PolytomicCalls):
    """Polytomic's partner API, for the portal's services and queries: one method a call."""

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
        self, organization_id: UUID, data: OrganizationInput, *, idempotency_key: str, context: AuditContext,
        secret_note: str = "",
    ) -> Organization:  # fmt: skip
        """`secret_note` says in the audit entry what the client secret sent is ("resent as kept
        on ...", "unchanged", "replaced"), beside its "[set]"; never the secret."""
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
            secret_note=secret_note,
        )

    # A customer organization's people ---------------------------------------------------------

    def list_users(self, organization_id: UUID, *, context: AuditContext) -> list[User]:
        return self._call(
            "GET", f"/api/organizations/{organization_id}/users", action=AuditEntry.Action.USER_LIST,
            context=context, organization_id=str(organization_id), parse=_list_of(User.from_api),
        )  # fmt: skip

    def list_roles(self, organization_id: UUID, *, context: AuditContext) -> list[Role]:
        """The organization's roles: organization-scoped, so asked with HTTP Basic auth as the
        organization (its id, and the partner key), as Polytomic's Terraform provider asks. (guess:
        the published roles document names a user's Bearer key; docs/polytomic-calls.md.)"""
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
        """Replaces the user's roles; the email is sent as the API requires, and "is not affected by
        this endpoint" (the published users document, operation update)."""
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
        """The partner's own connections: asked as its owner organization (HTTP Basic), as for
        `list_roles` (guess: the published connections document names a user's Bearer key)."""
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

    def get_entity(self, entity_id: UUID, *, context: AuditContext) -> Entity:
        """What any id is and which of the partner's organizations owns it (PolytomicNotFound: none)."""
        return self._call(
            "GET", f"/api/organizations/entities/{entity_id}", action=AuditEntry.Action.ENTITY_GET, context=context,
            parse=Entity.from_api,
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
