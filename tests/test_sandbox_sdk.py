"""The sandbox, checked by a client nobody here wrote: Polytomic's own Python SDK.

Where the SDK and Polytomic's API reference disagree, the SDK wins: it declares no 401 for the
organization endpoints, so a bad key arrives as its generic ApiError with status 401 rather than
as UnauthorizedError.
"""

from __future__ import annotations

import base64

import pytest
import requests
from polytomic import Polytomic
from polytomic.core.api_error import ApiError
from polytomic.errors import ConflictError, ForbiddenError, NotFoundError, UnprocessableEntityError
from polytomic.types import Organization, OrganizationEnvelope, OrganizationsEnvelope

from devtools.sandbox import ACME_ID, FOREIGN_ID, GLOBEX_ID, OWNER_ID, PARTNER_KEY

NO_RETRIES = {"max_retries": 0}  # the SDK retries 409 and 5xx by default; each rule is checked once


@pytest.fixture
def sdk(sandbox) -> Polytomic:
    return Polytomic(base_url=sandbox.url, token=PARTNER_KEY, max_retries=0, timeout=10)


class SdkFidelityTests:
    def test_list_parses_into_the_sdks_types(self, sdk):
        envelope = sdk.organization.list()
        assert isinstance(envelope, OrganizationsEnvelope)
        assert all(isinstance(o, Organization) for o in envelope.data)
        assert envelope.data[0].id == OWNER_ID

    def test_create_without_oidc(self, sdk):
        envelope = sdk.organization.create(name="Hooli", sso_domain="hooli.example", sso_org_id="org_hooli")
        assert isinstance(envelope, OrganizationEnvelope)
        assert (envelope.data.name, envelope.data.sso_domain, envelope.data.issuer) == ("Hooli", "hooli.example", None)

    def test_create_with_oidc_then_get_update_and_delete(self, sdk, sandbox):
        created = sdk.organization.create(
            name="Pied Piper",
            issuer="https://piedpiper.okta.example",
            client_id="pp-client",
            client_secret="pp-secret",
            idempotency_key="sdk-create-pied-piper",
        ).data
        assert created.issuer == "https://piedpiper.okta.example"
        assert "client_secret" not in created.model_dump()

        fetched = sdk.organization.get(id=created.id).data
        assert fetched == created

        # The SDK omits fields it is not given: the sandbox, like Polytomic, clears them.
        updated = sdk.organization.update(id=created.id, name="Pied Piper Inc", idempotency_key="sdk-update-pp").data
        assert (updated.name, updated.issuer) == ("Pied Piper Inc", None)
        assert sandbox.sandbox.organizations[created.id].client_secret is None

        assert sdk.organization.delete(id=created.id, idempotency_key="sdk-delete-pp") is None
        with pytest.raises(NotFoundError):
            sdk.organization.get(id=created.id)

    def test_a_taken_name_raises_the_conflict_error(self, sdk):
        with pytest.raises(ConflictError) as caught:
            sdk.organization.create(name="globex", request_options=NO_RETRIES)
        assert caught.value.body.status == 409

    def test_invalid_input_raises_the_unprocessable_entity_error(self, sdk):
        with pytest.raises(UnprocessableEntityError) as caught:
            sdk.organization.create(name="Bad", issuer="http://plain.example")
        assert set(caught.value.body.metadata) == {"issuer", "client_id", "client_secret"}

    def test_a_bad_key_raises_an_api_error_with_status_401(self, sandbox):
        sdk = Polytomic(base_url=sandbox.url, token="not-a-partner-key", max_retries=0, timeout=10)
        with pytest.raises(ApiError) as caught:
            sdk.organization.list()
        assert caught.value.status_code == 401
        assert caught.value.body["message"] == "invalid or unknown API key"

    def test_foreign_and_owner_organizations_raise_forbidden(self, sdk):
        with pytest.raises(ForbiddenError):
            sdk.organization.get(id=FOREIGN_ID)
        with pytest.raises(ForbiddenError):
            sdk.organization.delete(id=OWNER_ID)

    def test_the_sdk_sends_the_version_the_sandbox_echoes(self, sdk, sandbox):
        sdk.organization.get(id=GLOBEX_ID)
        sent = sandbox.sandbox.received[-1]["headers"]
        assert sent["x-polytomic-version"] == "2025-09-18"


class SdkPeopleTests:
    """The users, roles and API-key endpoints, as Polytomic's SDK calls and parses them."""

    def test_a_users_life_invite_roles_key_and_removal(self, sdk, sandbox):
        roles = roles_sdk(sandbox, ACME_ID).permissions.roles.list().data
        by_name = {role.name: role.id for role in roles}
        assert {"Admin", "Member"} <= set(by_name)

        invited = sdk.users.create(
            ACME_ID, email="New.Admin@Acme.example", role_ids=[by_name["Member"]], idempotency_key="sdk-invite-0001"
        ).data
        assert (invited.email, invited.role_ids) == ("new.admin@acme.example", [by_name["Member"]])
        assert invited.id in {user.id for user in sdk.users.list(ACME_ID).data}

        updated = sdk.users.update(
            ACME_ID, invited.id, email=invited.email, role_ids=[by_name["Admin"]], idempotency_key="sdk-role-0001"
        ).data
        assert updated.role_ids == [by_name["Admin"]]
        assert sdk.users.get(ACME_ID, invited.id).data == updated

        first = sdk.users.create_api_key(ACME_ID, invited.id, idempotency_key="sdk-key-00001").data.value
        with pytest.raises(ApiError) as refused:  # a second key only with force (a guess, PeopleGuess)
            sdk.users.create_api_key(ACME_ID, invited.id, idempotency_key="sdk-key-00002")
        assert refused.value.status_code == 400
        second = sdk.users.create_api_key(ACME_ID, invited.id, force=True, idempotency_key="sdk-key-00003").data.value
        assert first != second

        removed = sdk.users.delete(ACME_ID, invited.id).data
        assert removed.id == invited.id
        with pytest.raises(NotFoundError):
            sdk.users.get(ACME_ID, invited.id)

    def test_roles_are_the_organizations_own_and_checked(self, sdk, sandbox):
        globex_roles = {role.id for role in roles_sdk(sandbox, GLOBEX_ID).permissions.roles.list().data}
        with pytest.raises(UnprocessableEntityError):
            sdk.users.create(ACME_ID, email="x@acme.example", role_ids=sorted(globex_roles)[:1])
        with pytest.raises(UnprocessableEntityError):
            sdk.users.create(ACME_ID, email="x@acme.example", role="admin", role_ids=sorted(globex_roles)[:1])
        with pytest.raises(ForbiddenError):
            sdk.users.list(FOREIGN_ID)
        # Roles need HTTP Basic (or a user's key), not the partner's Bearer key (sent by hand: the
        # contract binds the SDK's own requests).
        bearer = requests.get(
            f"{sandbox.url}/api/permissions/roles", headers={"Authorization": f"Bearer {PARTNER_KEY}"}, timeout=10
        )
        assert bearer.status_code == 401


class SdkConnectionTests:
    """The partner's connections, listed as its owner organization and shared into a customer's."""

    def test_list_share_and_list_the_copies(self, sdk, sandbox):
        owned = roles_sdk(sandbox, OWNER_ID).connections.list().data
        assert {c.name for c in owned} >= {"Analytics warehouse", "Sales CRM"}
        assert all(c.organization_id == OWNER_ID and c.type.name for c in owned)
        warehouse = next(c for c in owned if c.name == "Analytics warehouse")

        shared = sdk.connections.shared_connections.create_shared_connection(
            OWNER_ID, warehouse.id, child_organization_id=ACME_ID, idempotency_key="sdk-share-0001"
        ).data
        copies = sdk.connections.shared_connections.list_shared_connections_for_partner(OWNER_ID, warehouse.id).data
        assert [(c.id, c.organization_id, c.parent_connection_id) for c in copies] == [
            (shared.id, ACME_ID, warehouse.id)
        ]
        assert shared.id in {c.id for c in roles_sdk(sandbox, ACME_ID).connections.list().data}

    def test_a_share_is_refused_for_another_partners_organization_or_connection(self, sdk, sandbox):
        warehouse = roles_sdk(sandbox, OWNER_ID).connections.list().data[0]
        with pytest.raises(ForbiddenError):
            sdk.connections.shared_connections.create_shared_connection(
                OWNER_ID, warehouse.id, child_organization_id=FOREIGN_ID
            )
        with pytest.raises(NotFoundError):  # a connection of Acme's is not the owner's to share
            sdk.connections.shared_connections.create_shared_connection(
                ACME_ID, warehouse.id, child_organization_id=GLOBEX_ID
            )


def roles_sdk(sandbox, organization_id: str) -> Polytomic:
    """The SDK as Polytomic's Terraform provider calls the roles of a customer organization: HTTP
    Basic auth with the organization's id and the partner key."""
    basic = base64.b64encode(f"{organization_id}:{PARTNER_KEY}".encode()).decode()
    return Polytomic(base_url=sandbox.url, headers={"Authorization": f"Basic {basic}"}, max_retries=0, timeout=10)
