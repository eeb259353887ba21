"""The contract check itself (tests/contract.py): it must see each kind of breach, or its silence
after every test (tests/conftest.py) proves nothing."""

from __future__ import annotations

import uuid

import pytest

from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID, OWNER_ID
from orgadmin.polytomic.client import client
from orgadmin.polytomic.errors import PolytomicValidationError
from tests import contract

PORTAL = {"user-agent": "partner-organization-portal/0.1.0", "authorization": "Bearer [masked]"}
ORGANIZATION = {"id": ACME_ID, "name": "Acme Corporation", "sso_domain": "acme.example"}
ROLE = "3b8f364f-9604-5d69-a5ee-cffccf7fe100"
USERS = f"/api/organizations/{ACME_ID}/users"
SHARED = f"/api/organizations/{OWNER_ID}/connections/{ROLE}/shared"


def exchange(method="GET", path=f"/api/organizations/{ACME_ID}", *, headers=PORTAL, body=None, status=200,
             answer=None, fault=False):  # fmt: skip
    answered = {"status": status, "body": {"data": ORGANIZATION} if answer is None else answer, "fault": fault}
    return {"method": method, "path": path, "headers": headers, "body": body, "answer": answered}


class ContractCheckTests:
    def test_what_keeps_the_contract_passes(self):
        assert contract.problems([exchange(), exchange("PUT", body={"name": "Acme"})]) == []
        assert contract.problems([exchange("DELETE", answer=None, status=200) | {"answer": None}]) == []

    @pytest.mark.parametrize(
        ("breach", "seen"),
        [
            (exchange("POST", "/api/organizations", body={"name": "X", "issuer": None}), "request POST"),
            (exchange("POST", "/api/organizations", body={"sso_domain": "x.example"}), "request POST"),
            (exchange(headers={"user-agent": PORTAL["user-agent"]}), "request GET"),  # no Authorization
            (exchange(path="/api/organizations/not-a-uuid"), "request GET"),
            (exchange(answer={"data": ORGANIZATION | {"sso_org_id": None}}), "answer 200"),
            (exchange(answer={"data": [ORGANIZATION]}), "answer 200"),
            (exchange(status=418, answer={"message": "teapot"}), "answer 418"),
            (exchange(status=404, answer={"status": "404"}), "answer 404"),
            (exchange("DELETE", status=204, answer={}), "answer 204"),
            (exchange("PATCH", body={"name": "X"}), "request PATCH"),
            # The request bodies accept the fields the documents list, no other; role_ids one at least.
            (exchange("PUT", body={"name": "Acme", "note": "x"}), "request PUT"),
            (exchange("POST", USERS, body={"email": "a@acme.example", "role_ids": []}), "request POST"),
            (exchange("PUT", f"{USERS}/{ACME_ID}", body={"email": "a@acme.example", "role_ids": []}), "request PUT"),
            (
                exchange("POST", USERS, body={"email": "a@acme.example", "role_ids": [ROLE], "name": "A"}),
                "request POST",
            ),
            (exchange("POST", USERS, body={"email": "a@acme.example", "role": "member"}), "request POST"),
            (exchange("POST", SHARED, body={"child_organization_id": ACME_ID, "note": "x"}), "request POST"),
            (exchange("POST", SHARED, body={"child_organization_id": ACME_ID, "name": None}), "request POST"),
            # A connection's parent is a string, never null; the deprecated role is user or admin.
            (exchange("GET", SHARED, answer={"data": [{"id": ROLE, "parent_connection_id": None}]}), "answer 200"),
            (exchange("GET", USERS, answer={"data": [{"id": ROLE, "role": "member"}]}), "answer 200"),
            # The roles list takes HTTP Basic or a Bearer key, and no other scheme.
            (exchange("GET", "/api/permissions/roles", headers=PORTAL | {"authorization": "Token x"}), "request GET"),
        ],
    )
    def test_each_kind_of_breach_is_seen(self, breach, seen):
        found = contract.problems([breach])
        assert found, breach
        assert found[0].startswith(seen), found

    def test_answers_a_fault_stood_in_for_and_other_clients_are_not_held_to_it(self):
        assert contract.problems([exchange(status=503, answer="<html>", fault=True)]) == []
        assert contract.problems([exchange(headers={"user-agent": "python-requests/2"}, body={"x": None})]) == []

    def test_the_portals_calls_in_a_test_are_held_to_it(self, sandbox, admin_user, client):
        """What the suite checks after each test: a real exchange of the portal's, seen and passed."""
        client.force_login(admin_user)
        client.get(f"/organizations/{ACME_ID}/")
        client.post(f"/organizations/{ACME_ID}/delete/", {"confirm_name": "Acme Corporation"})
        checked = [r for r in sandbox.sandbox.received if r["headers"]["user-agent"].startswith(contract.CLIENTS)]
        assert {(r["method"], r["answer"]["status"]) for r in checked} >= {("GET", 200), ("DELETE", 200)}
        assert contract.problems(sandbox.sandbox.received) == []

    def test_the_portals_client_is_caught_sending_an_empty_role_ids_or_an_unknown_field(self, sandbox, db):
        """The real client's requests, as the sandbox received them: the check names each breach."""
        audit = AuditContext(actor=None, actor_label="contract-test")
        acme = uuid.UUID(ACME_ID)
        member = next(role.id for role in client().list_roles(acme, context=audit) if role.name == "Member")
        with pytest.raises(PolytomicValidationError):  # the sandbox refuses it too; the check must see it
            client().invite_user(
                acme, email="a@acme.example", role_ids=[], idempotency_key="empty-roles", context=audit
            )
        client()._call(  # the sandbox takes it; the check must see it all the same
            "POST", f"/api/organizations/{ACME_ID}/users", action="user.invite", context=audit,
            body={"email": "b@acme.example", "role_ids": [member], "nickname": "B"}, idempotency_key="unknown-field",
            organization_id=ACME_ID, parse=None,
        )  # fmt: skip
        found = contract.problems(sandbox.sandbox.received)
        assert [line.split(":", 1)[0] for line in found] == [f"request POST {USERS}"] * 2, found
        assert "[] should be non-empty" in found[0]
        assert "'nickname' was unexpected" in found[1]
        sandbox.sandbox.received.clear()  # seen, and meant: not a breach of this test's own
