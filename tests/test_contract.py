"""The contract check itself (tests/contract.py): it must see each kind of breach, or its silence
after every test (tests/conftest.py) proves nothing."""

from __future__ import annotations

import pytest

from devtools.sandbox import ACME_ID
from tests import contract

PORTAL = {"user-agent": "partner-organization-portal/0.1.0", "authorization": "Bearer [masked]"}
ORGANIZATION = {"id": ACME_ID, "name": "Acme Corporation", "sso_domain": "acme.example"}


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
