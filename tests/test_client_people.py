"""The client's calls for a customer organization's people, against the sandbox: what is sent,
what is read, what is recorded (and what never is: a minted key)."""

from __future__ import annotations

import uuid

import pytest

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, FOREIGN_ID, GLOBEX_ID, OWNER_ID
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicError, PolytomicForbidden, PolytomicNotFound, PolytomicValidationError

ACME = uuid.UUID(ACME_ID)
OWNER = uuid.UUID(OWNER_ID)

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit() -> AuditContext:
    return AuditContext(actor=None, actor_label="people-test", request_id="req-people")


def roles(audit) -> dict[str, str]:
    return {role.name: role.id for role in client().list_roles(ACME, context=audit)}


class PeopleCallTests:
    def test_roles_are_asked_as_the_organization(self, audit, sandbox):
        named = roles(audit)
        assert {"Admin", "Member", "Data steward"} <= set(named)
        [asked] = [r for r in sandbox.sandbox.received if r["path"] == "/api/permissions/roles"]
        assert asked["headers"]["authorization"].startswith("Basic ")
        entry = AuditEntry.objects.get(action="role.list")
        assert (entry.organization_id, entry.outcome) == (ACME_ID, "ok")

    def test_invite_change_roles_key_and_remove(self, audit, sandbox):
        named = roles(audit)
        invited = client().invite_user(
            ACME, email="Ops@Acme.example", role_ids=[named["Member"]], idempotency_key="invite-0001", context=audit
        )
        assert invited.email == "ops@acme.example"
        [sent] = [r for r in sandbox.sandbox.received if r["method"] == "POST"]
        assert sent["body"] == {"email": "Ops@Acme.example", "role_ids": [named["Member"]]}  # never `role`
        assert invited.id in {user.id for user in client().list_users(ACME, context=audit)}

        changed = client().update_user_roles(
            ACME, uuid.UUID(invited.id), email=invited.email, role_ids=[named["Admin"], named["Data steward"]],
            idempotency_key="roles-0001", context=audit,
        )  # fmt: skip
        assert changed.role_ids == (named["Admin"], named["Data steward"])

        key = client().create_api_key(
            ACME, uuid.UUID(invited.id), force=False, idempotency_key="key-00001", context=audit
        )
        with pytest.raises(PolytomicError):  # a second key only with force
            client().create_api_key(
                ACME, uuid.UUID(invited.id), force=False, idempotency_key="key-00002", context=audit
            )
        second = client().create_api_key(
            ACME, uuid.UUID(invited.id), force=True, idempotency_key="key-00003", context=audit
        )
        assert key.value != second.value
        assert key.value not in repr(key)
        client().delete_user(ACME, uuid.UUID(invited.id), context=audit)
        with pytest.raises(PolytomicNotFound):
            client().delete_user(ACME, uuid.UUID(invited.id), context=audit)

        stored = str(list(AuditEntry.objects.values()))
        assert key.value not in stored
        assert second.value not in stored
        keys = AuditEntry.objects.filter(action="user.key", phase="outcome").order_by("id")
        assert [e.path.rsplit("?", 1)[1] for e in keys] == ["force=false", "force=false", "force=true"]
        assert [e.outcome for e in keys] == ["ok", "rejected", "ok"]

    def test_refusals_land_on_their_fields(self, audit, sandbox):
        globex_role = next(iter({r.id for r in client().list_roles(uuid.UUID(GLOBEX_ID), context=audit)}))
        with pytest.raises(PolytomicValidationError) as caught:
            client().invite_user(ACME, email="x@acme.example", role_ids=[globex_role], idempotency_key="bad-role-01",
                                 context=audit)  # fmt: skip
        assert "role_ids" in caught.value.field_errors
        with pytest.raises(PolytomicValidationError) as caught:
            client().invite_user(ACME, email="it-admin@acme.example", role_ids=[roles(audit)["Member"]],
                                 idempotency_key="taken-0001", context=audit)  # fmt: skip
        assert "email" in caught.value.field_errors
        with pytest.raises(PolytomicForbidden):
            client().list_users(uuid.UUID(FOREIGN_ID), context=audit)


class ConnectionCallTests:
    def test_list_as_the_owner_then_share_once_per_key(self, audit, sandbox):
        owned = client().list_connections(OWNER, context=audit)
        assert {c.name for c in owned} >= {"Analytics warehouse", "Sales CRM", "Marketing"}
        assert {c.type_name for c in owned} >= {"Snowflake", "Salesforce"}
        [asked] = [r for r in sandbox.sandbox.received if r["path"] == "/api/connections"]
        assert asked["headers"]["authorization"].startswith("Basic ")
        crm = next(c for c in owned if c.name == "Sales CRM")

        first = client().share_connection(OWNER, uuid.UUID(crm.id), into=ACME, idempotency_key="share-0001",
                                          context=audit)  # fmt: skip
        again = client().share_connection(OWNER, uuid.UUID(crm.id), into=ACME, idempotency_key="share-0001",
                                          context=audit)  # fmt: skip
        assert first == again  # the same key: one copy, however often it is sent
        assert [c.id for c in client().list_connections(ACME, context=audit)] == [first.id]
        [sent, _] = [r for r in sandbox.sandbox.received if r["method"] == "POST"]
        assert sent["body"] == {"child_organization_id": ACME_ID}
        attempt = AuditEntry.objects.filter(action="connection.share", phase="attempt").first()
        assert (attempt.organization_id, attempt.request_body) == (ACME_ID, {"child_organization_id": ACME_ID})
        assert AuditEntry.objects.filter(action="connection.share", phase="outcome", outcome="ok").count() == 2

    def test_refusals(self, audit, sandbox):
        crm = client().list_connections(OWNER, context=audit)[0]
        with pytest.raises(PolytomicForbidden):
            client().share_connection(OWNER, uuid.UUID(crm.id), into=uuid.UUID(FOREIGN_ID),
                                      idempotency_key="share-0002", context=audit)  # fmt: skip
        with pytest.raises(PolytomicNotFound):
            client().share_connection(OWNER, uuid.uuid4(), into=ACME, idempotency_key="share-0003", context=audit)
