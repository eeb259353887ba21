"""The sandbox's rules, over real HTTP on loopback."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devtools.sandbox import (
    ACME_ID,
    FOREIGN_ID,
    GLOBEX_ID,
    OTHER_PARTNER_KEY,
    OWNER_ID,
    PARTNER_KEY,
)


@pytest.fixture
def api(sandbox) -> Iterator[SandboxApi]:
    with requests.Session() as session:
        yield SandboxApi(sandbox.url, session)


class SandboxApi:
    def __init__(self, url: str, session: requests.Session) -> None:
        self.url = url
        self.session = session

    def __call__(self, method, path, *, key=PARTNER_KEY, json=None, headers=None, timeout=10):
        sent = {"X-Polytomic-Version": "2025-09-18"} | (headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        return self.session.request(method, f"{self.url}{path}", json=json, headers=sent, timeout=timeout)

    def create(self, body, **kwargs):
        return self("POST", "/api/organizations", json=body, **kwargs)

    def names(self, key=PARTNER_KEY):
        return [o["name"] for o in self("GET", "/api/organizations", key=key).json()["data"]]


class AuthenticationTests:
    @pytest.mark.parametrize("key", [None, "wrong-key"])
    def test_a_missing_or_wrong_key_is_401_with_the_error_shape(self, api, key):
        response = api("GET", "/api/organizations", key=key)
        assert response.status_code == 401
        assert response.json() == {"status": 401, "message": "invalid or unknown API key", "key": "unauthorized"}

    def test_the_version_header_is_echoed(self, api):
        assert api("GET", "/api/organizations").headers["X-Polytomic-Version"] == "2025-09-18"
        response = api("GET", "/api/organizations", headers={"X-Polytomic-Version": "2024-02-08"})
        assert response.headers["X-Polytomic-Version"] == "2024-02-08"

    def test_answers_are_json(self, api):
        assert api("GET", "/api/organizations").headers["Content-Type"] == "application/json"


class ReadTests:
    def test_list_puts_the_owner_first_and_shows_only_this_partner(self, api):
        data = api("GET", "/api/organizations").json()["data"]
        assert data[0]["id"] == OWNER_ID
        assert [o["name"] for o in data] == ["Northwind Partners", "Acme Corporation", "Globex", "Initech"]
        assert api.names(key=OTHER_PARTNER_KEY) == ["Umbrella (another partner)"]

    def test_oidc_credentials_are_never_returned(self, api):
        globex = api("GET", f"/api/organizations/{GLOBEX_ID}").json()["data"]
        assert globex == {  # what is unset is left out, as the schema's plain strings say
            "id": GLOBEX_ID,
            "name": "Globex",
            "sso_domain": "globex.example",
            "issuer": "https://globex.okta.example",
        }
        listed = next(o for o in api("GET", "/api/organizations").json()["data"] if o["id"] == GLOBEX_ID)
        assert "client_id" not in listed
        assert "client_secret" not in listed

    @pytest.mark.parametrize(
        ("path", "status"),
        [
            (f"/api/organizations/{uuid.uuid4()}", 404),
            ("/api/organizations/not-a-uuid", 404),
            (f"/api/organizations/{FOREIGN_ID}", 403),
        ],
    )
    def test_unknown_and_foreign_organizations(self, api, path, status):
        response = api("GET", path)
        assert response.status_code == status
        assert response.json()["status"] == status


class CreateTests:
    def test_create_returns_the_organization_and_keeps_credentials_write_only(self, api, sandbox):
        body = {
            "name": "  Hooli  ",
            "sso_domain": "hooli.example",
            "issuer": "https://hooli.okta.example",
            "client_id": "hooli-client",
            "client_secret": "hooli-secret",
        }
        response = api.create(body)
        assert response.status_code == 200
        created = response.json()["data"]
        assert created["name"] == "Hooli"
        assert created["issuer"] == "https://hooli.okta.example"
        assert "client_secret" not in created
        stored = sandbox.sandbox.organizations[created["id"]]
        assert (stored.client_id, stored.client_secret) == ("hooli-client", "hooli-secret")
        assert api.names()[-1] == "Hooli"

    @pytest.mark.parametrize("name", ["acme corporation", "ACME CORPORATION", " Acme Corporation "])
    def test_names_are_unique_case_insensitively(self, api, name):
        response = api.create({"name": name})
        assert response.status_code == 409
        assert response.json()["message"] == "an organization with this name already exists"

    def test_a_name_used_by_another_partner_is_free(self, api):
        assert api.create({"name": "Umbrella (another partner)"}).status_code == 200

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({}, {"name"}),
            ({"name": "   "}, {"name"}),
            ({"name": "X", "issuer": "http://x.okta.example", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "issuer": "javascript:alert(1)", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "issuer": "https://", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "sso_domain": "https://x.example"}, {"sso_domain"}),
            ({"name": "X", "sso_domain": "user@x.example"}, {"sso_domain"}),
            ({"name": "X", "sso_domain": "x.example/path"}, {"sso_domain"}),
            ({"name": "X", "sso_domain": "localhost"}, {"sso_domain"}),
            ({"name": "X", "issuer": "https://x.okta.example"}, {"client_id", "client_secret"}),
            ({"name": "X", "client_secret": "s"}, {"issuer", "client_id"}),
            ({"name": "X", "client_id": "c", "client_secret": "s"}, {"issuer"}),
        ],
    )
    def test_invalid_input_is_422_naming_the_fields(self, api, body, fields):
        response = api.create(body)
        assert response.status_code == 422
        assert response.json()["message"] == "validation failed"
        assert set(response.json()["metadata"]) == fields

    def test_sso_without_oidc_is_fine(self, api):
        assert api.create({"name": "X", "sso_domain": "sub.x.example", "sso_org_id": "org_9"}).status_code == 200

    @pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"name": 5}'])
    def test_malformed_bodies_are_400(self, api, body):
        response = api.session.post(
            f"{api.url}/api/organizations",
            data=body,
            headers={"Authorization": f"Bearer {PARTNER_KEY}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 400


class UpdateTests:
    def test_update_replaces_the_whole_configuration(self, api, sandbox):
        response = api("PUT", f"/api/organizations/{GLOBEX_ID}", json={"name": "Globex"})
        assert response.status_code == 200
        assert response.json()["data"] == {"id": GLOBEX_ID, "name": "Globex"}
        stored = sandbox.sandbox.organizations[GLOBEX_ID]
        assert (stored.client_id, stored.client_secret) == (None, None)

    def test_update_with_the_whole_block_keeps_it(self, api, sandbox):
        block = {
            "name": "Globex Corp",
            "sso_domain": "globex.example",
            "sso_org_id": None,
            "issuer": "https://globex.okta.example",
            "client_id": "new-client",
            "client_secret": "new-secret",
        }
        assert api("PUT", f"/api/organizations/{GLOBEX_ID}", json=block).json()["data"]["issuer"] == block["issuer"]
        assert sandbox.sandbox.organizations[GLOBEX_ID].client_secret == "new-secret"

    def test_renaming_to_another_organizations_name_is_409(self, api):
        assert api("PUT", f"/api/organizations/{ACME_ID}", json={"name": "globex"}).status_code == 409

    def test_keeping_or_recasing_its_own_name_is_fine(self, api):
        assert api("PUT", f"/api/organizations/{ACME_ID}", json={"name": "ACME Corporation"}).status_code == 200

    def test_update_validates_like_create(self, api):
        response = api("PUT", f"/api/organizations/{ACME_ID}", json={"name": "Acme", "issuer": "https://a.example"})
        assert response.status_code == 422
        assert set(response.json()["metadata"]) == {"client_id", "client_secret"}

    @pytest.mark.parametrize(("organization_id", "status"), [(str(uuid.uuid4()), 404), (FOREIGN_ID, 403)])
    def test_update_of_unknown_or_foreign(self, api, organization_id, status):
        assert api("PUT", f"/api/organizations/{organization_id}", json={"name": "X"}).status_code == status


class DeleteTests:
    def test_delete_is_200_with_no_body_and_the_organization_is_gone(self, api):
        response = api("DELETE", f"/api/organizations/{ACME_ID}")
        assert (response.status_code, response.content) == (200, b"")  # as the published spec has it
        assert api("GET", f"/api/organizations/{ACME_ID}").status_code == 404

    @pytest.mark.parametrize(
        ("organization_id", "status"), [(OWNER_ID, 403), (FOREIGN_ID, 403), (str(uuid.uuid4()), 404)]
    )
    def test_owner_foreign_and_unknown_are_refused(self, api, organization_id, status):
        assert api("DELETE", f"/api/organizations/{organization_id}").status_code == status
        assert len(api.names()) == 4


class ErrorShapeTests:
    def test_errors_carry_a_key_and_metadata_by_default(self, api):
        body = api.create({"name": "X", "issuer": "http://x.example"}).json()
        assert (body["status"], body["key"]) == (422, "validation_failed")
        assert set(body["metadata"]) == {"issuer", "client_id", "client_secret"}

    def test_bare_errors_are_status_and_message_alone(self, api, sandbox):
        sandbox.sandbox.bare_errors = True
        try:
            for response in (
                api.create({"name": "X", "issuer": "http://x"}),
                api("GET", "/api/organizations", key=None),
            ):
                assert set(response.json()) == {"status", "message"}
        finally:
            sandbox.sandbox.bare_errors = False


class IdentityTests:
    def test_a_partner_key_is_said_to_be_one(self, api):
        data = api("GET", "/api/me").json()["data"]
        assert (data["is_partner"], data["organization_id"], data["organization_name"]) == (
            True, OWNER_ID, "Northwind Partners"
        )  # fmt: skip

    def test_a_bad_key_is_401(self, api):
        assert api("GET", "/api/me", key="nonsense").status_code == 401


class IdempotencyTests:
    def test_a_repeated_key_replays_the_first_outcome(self, api):
        first = api.create({"name": "Pied Piper"}, headers={"Idempotency-Key": "create-pied-piper-1"})
        again = api.create({"name": "Pied Piper"}, headers={"Idempotency-Key": "create-pied-piper-1"})
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        assert api.names().count("Pied Piper") == 1

    def test_errors_are_replayed_too(self, api):
        key = {"Idempotency-Key": "create-invalid-1"}
        assert api.create({"name": ""}, headers=key).status_code == 422
        assert api.create({"name": "Now Valid"}, headers=key).status_code == 422
        assert "Now Valid" not in api.names()

    def test_keys_are_per_partner(self, api):
        key = {"Idempotency-Key": "shared-key-123"}
        assert api.create({"name": "Mine"}, headers=key).status_code == 200
        assert api.create({"name": "Theirs"}, headers=key, key=OTHER_PARTNER_KEY).status_code == 200

    def test_a_concurrent_duplicate_is_409(self, api, sandbox):
        key = "slow-create-0001"
        first: list[requests.Response] = []
        thread = threading.Thread(
            target=lambda: first.append(
                api.create({"name": "Slow"}, headers={"Idempotency-Key": key, "X-Sandbox-Fault": "hold"})
            )
        )
        thread.start()
        assert sandbox.sandbox.held.wait(timeout=10)  # the first is in flight, its key reserved
        with requests.Session() as other:
            duplicate = SandboxApi(api.url, other).create({"name": "Slow"}, headers={"Idempotency-Key": key})
        sandbox.sandbox.release.set()
        thread.join(timeout=10)
        assert duplicate.status_code == 409
        assert "already in progress" in duplicate.json()["message"]
        assert first[0].status_code == 200
        assert api.names().count("Slow") == 1

    def test_a_held_request_is_carried_out_once_released_over_http(self, api, sandbox):
        created: list[requests.Response] = []
        thread = threading.Thread(target=lambda: created.append(
            api.create({"name": "Held"}, headers={"Idempotency-Key": "held-create-0001", "X-Sandbox-Fault": "hold"})
        ))  # fmt: skip
        thread.start()
        assert sandbox.sandbox.held.wait(timeout=10)
        assert "Held" not in api.names()  # waiting, not carried out
        released = api("POST", "/_sandbox/release", key=None)
        thread.join(timeout=10)
        assert (released.status_code, released.json()) == (200, {"released": True})
        assert created[0].status_code == 200
        assert api.names().count("Held") == 1

    def test_a_key_on_delete_is_ignored(self, api):
        """The idempotency guide sets none on DELETE: a repeat answers as a repeat does, 404, and
        a key that would be refused on POST is not even read."""
        key = {"Idempotency-Key": "delete-acme-0001"}
        assert api("DELETE", f"/api/organizations/{ACME_ID}", headers=key).status_code == 200
        assert api("DELETE", f"/api/organizations/{ACME_ID}", headers=key).status_code == 404
        malformed = {"Idempotency-Key": "no"}
        assert api("DELETE", f"/api/organizations/{GLOBEX_ID}", headers=malformed).status_code == 200
        assert api("POST", "/api/organizations", json={"name": "Keyed"}, headers=malformed).status_code == 400

    @pytest.mark.parametrize("key", ["short", "has spaces in it", "x" * 256])
    def test_a_malformed_key_is_400(self, api, key):
        assert api.create({"name": "K"}, headers={"Idempotency-Key": key}).status_code == 400


class FaultTests:
    def test_faults_are_off_by_default(self, api):
        assert all(api("GET", "/api/organizations").status_code == 200 for _ in range(20))

    def test_the_request_log_shows_each_answer_even_one_that_is_not_json(self, api):
        api("GET", "/api/organizations", headers={"X-Sandbox-Fault": "garbage"})
        api("GET", f"/api/organizations/{ACME_ID}")
        logged = api("GET", "/_sandbox/requests").json()["requests"]
        assert [entry["answer"]["fault"] for entry in logged] == [True, False]
        assert logged[0]["answer"]["body"].startswith("<html>")
        assert logged[1]["answer"]["body"]["data"]["id"] == ACME_ID

    @pytest.mark.parametrize(
        ("fault", "status", "body_check"),
        [
            ("status:500", 500, lambda r: r.json()["status"] == 500),
            ("status:502", 502, lambda r: r.text.startswith("<html>")),
            ("status:429", 429, lambda r: r.headers["Retry-After"] == "1"),
            ("status:401", 401, lambda r: r.json()["status"] == 401),
            ("status:401:legacy", 401, lambda r: r.json()["status"] == "Unauthorized"),
            ("status:401:nested", 401, lambda r: r.json() == {"error": {"message": "invalid or unknown API key"}}),
            ("garbage", 200, lambda r: r.headers["Content-Type"] == "text/html"),
        ],
    )
    def test_injected_answers(self, api, fault, status, body_check):
        response = api("GET", "/api/organizations", headers={"X-Sandbox-Fault": fault})
        assert response.status_code == status
        assert body_check(response)

    def test_latency_is_added(self, api):
        started = time.monotonic()
        api("GET", "/api/organizations", headers={"X-Sandbox-Fault": "latency:250"})
        assert time.monotonic() - started >= 0.25

    def test_hang_outlasts_the_client(self, api):
        with pytest.raises(requests.ReadTimeout):
            api("GET", "/api/organizations", headers={"X-Sandbox-Fault": "hang"}, timeout=(2, 0.3))

    def test_drop_breaks_the_answer_after_doing_the_work(self, api):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            api.create({"name": "Dropped"}, headers={"X-Sandbox-Fault": "drop"})
        assert "Dropped" in api.names()

    def test_queued_faults_answer_matching_requests_once(self, api):
        api.session.post(
            f"{api.url}/_sandbox/faults",
            json={"queue": [{"method": "GET", "path": f"/api/organizations/{ACME_ID}", "fault": "status:503"}]},
            timeout=10,
        )
        assert api("GET", "/api/organizations").status_code == 200
        assert api("GET", f"/api/organizations/{ACME_ID}").status_code == 503
        assert api("GET", f"/api/organizations/{ACME_ID}").status_code == 200

    def test_a_fault_rate_for_a_whole_run(self, api):
        api.session.post(f"{api.url}/_sandbox/faults", json={"rate": 0.5, "mix": ["status:500"], "seed": 7}, timeout=10)
        statuses = [api("GET", "/api/organizations").status_code for _ in range(60)]
        assert 10 < statuses.count(500) < 50
        assert set(statuses) == {200, 500}

    def test_run_wide_latency(self, api):
        api.session.post(f"{api.url}/_sandbox/faults", json={"latency_ms": 100}, timeout=10)
        started = time.monotonic()
        api("GET", "/api/organizations")
        assert time.monotonic() - started >= 0.1

    def test_bad_fault_settings_are_400(self, api):
        assert api.session.post(f"{api.url}/_sandbox/faults", data=b"[", timeout=10).status_code == 400


class PublishedDocumentTests:
    """Where Polytomic's published documents settle what the sandbox once guessed."""

    def test_a_connection_names_its_parent_as_a_string_and_an_unshared_one_none(self, api):
        owned = api("GET", "/api/connections", key=None, headers=basic(OWNER_ID)).json()["data"]
        assert owned
        assert all("parent_connection_id" not in connection for connection in owned)  # never null
        warehouse = owned[0]["id"]
        shared = f"/api/organizations/{OWNER_ID}/connections/{warehouse}/shared"
        api("POST", shared, json={"child_organization_id": ACME_ID}, headers={"Idempotency-Key": "share-parent-1"})
        [copy] = api("GET", shared).json()["data"]
        assert copy["parent_connection_id"] == warehouse

    def test_a_user_update_leaves_the_email_as_it_was_whatever_is_sent(self, api):
        user = api("GET", f"/api/organizations/{ACME_ID}/users").json()["data"][0]
        answer = api(
            "PUT", f"/api/organizations/{ACME_ID}/users/{user['id']}", json={"email": "new@acme.example",
            "role_ids": user["role_ids"]}, headers={"Idempotency-Key": "email-kept-1"},
        )  # fmt: skip
        assert answer.status_code == 200
        assert answer.json()["data"]["email"] == user["email"]
        assert api("GET", f"/api/organizations/{ACME_ID}/users/{user['id']}").json()["data"]["email"] == user["email"]

    def test_the_deprecated_role_is_user_or_admin(self, api):
        users = api("GET", f"/api/organizations/{ACME_ID}/users").json()["data"]
        assert {user["email"].split("@")[0]: user["role"] for user in users} == {"it-admin": "admin", "analyst": "user"}
        invited = api("POST", f"/api/organizations/{ACME_ID}/users", json={"email": "u@acme.example", "role": "user"},
                      headers={"Idempotency-Key": "legacy-user-1"}).json()["data"]  # fmt: skip
        roles = {
            r["id"]: r["name"]
            for r in api("GET", "/api/permissions/roles", key=None, headers=basic(ACME_ID)).json()["data"]
        }
        assert ([roles[role] for role in invited["role_ids"]], invited["role"]) == (["Member"], "user")
        refused = api("POST", f"/api/organizations/{ACME_ID}/users", json={"email": "m@acme.example", "role": "member"},
                      headers={"Idempotency-Key": "legacy-member-1"})  # fmt: skip
        assert (refused.status_code, set(refused.json()["metadata"])) == (422, {"role"})

    def test_the_roles_and_connections_lists_take_a_users_key(self, api):
        user = api("GET", f"/api/organizations/{ACME_ID}/users").json()["data"][0]
        key = api("POST", f"/api/organizations/{ACME_ID}/users/{user['id']}/keys",
                  headers={"Idempotency-Key": "user-key-0001"}).json()["data"]["value"]  # fmt: skip
        by_key = api("GET", "/api/permissions/roles", key=key).json()["data"]
        assert by_key == api("GET", "/api/permissions/roles", key=None, headers=basic(ACME_ID)).json()["data"]
        assert {role["organization_id"] for role in by_key} == {ACME_ID}
        assert api("GET", "/api/connections", key=key).json() == {"data": []}
        assert api("GET", "/api/permissions/roles", key=PARTNER_KEY).status_code == 401  # Basic, for a partner key
        assert api("GET", "/api/permissions/roles", key="pk_not-a-key").status_code == 401

    def test_basic_auth_can_be_refused_until_faults_are_set_again(self, api):
        user = api("GET", f"/api/organizations/{ACME_ID}/users").json()["data"][0]
        key = api("POST", f"/api/organizations/{ACME_ID}/users/{user['id']}/keys",
                  headers={"Idempotency-Key": "user-key-0002"}).json()["data"]["value"]  # fmt: skip
        assert api.session.post(f"{api.url}/_sandbox/faults", json={"refuse_basic": 403}, timeout=10).ok
        for path in ("/api/permissions/roles", "/api/connections"):
            refused = api("GET", path, key=None, headers=basic(OWNER_ID))
            assert (refused.status_code, refused.json()["status"]) == (403, 403)
        assert api("GET", "/api/permissions/roles", key=key).status_code == 200  # a user's key is no Basic call
        assert api("GET", "/api/organizations").status_code == 200
        assert api.session.post(f"{api.url}/_sandbox/faults", json={"refuse_basic": 401}, timeout=10).ok
        assert api("GET", "/api/connections", key=None, headers=basic(OWNER_ID)).status_code == 401
        assert api.session.post(f"{api.url}/_sandbox/faults", json={}, timeout=10).ok
        assert api("GET", "/api/connections", key=None, headers=basic(OWNER_ID)).status_code == 200

    @pytest.mark.parametrize("value", [200, "403", [403]])
    def test_refuse_basic_takes_401_or_403_alone(self, api, value):
        assert (
            api.session.post(f"{api.url}/_sandbox/faults", json={"refuse_basic": value}, timeout=10).status_code == 400
        )


def basic(organization_id: str) -> dict[str, str]:
    """The Authorization of a call as the organization, as Polytomic's Terraform provider makes it."""
    credentials = base64.b64encode(f"{organization_id}:{PARTNER_KEY}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


class IntrospectionTests:
    def test_requests_are_listed_with_the_key_masked(self, api):
        api.create({"name": "Seen", "client_secret": "s3cret"}, headers={"Idempotency-Key": "seen-key-001"})
        received = api.session.get(f"{api.url}/_sandbox/requests", timeout=10).json()["requests"]
        assert len(received) == 1
        request = received[0]
        assert (request["method"], request["path"]) == ("POST", "/api/organizations")
        assert request["headers"]["authorization"] == "Bearer [masked]"
        assert request["headers"]["idempotency-key"] == "seen-key-001"
        assert request["body"] == {"name": "Seen", "client_secret": "s3cret"}
        assert PARTNER_KEY not in str(received)

    def test_reset_restores_the_seed_and_clears_the_log(self, api):
        api("DELETE", f"/api/organizations/{ACME_ID}")
        assert api.session.post(f"{api.url}/_sandbox/reset", timeout=10).status_code == 204
        assert "Acme Corporation" in api.names()
        assert len(api.session.get(f"{api.url}/_sandbox/requests", timeout=10).json()["requests"]) == 1


class ConcurrencyTests:
    def test_concurrent_creates_of_one_name_make_one_organization(self, sandbox, api):
        def create(_: int) -> int:
            with requests.Session() as session:
                return SandboxApi(sandbox.url, session).create({"name": "Contended"}).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(create, range(20)))
        assert sorted(statuses) == [200] + [409] * 19
        assert api.names().count("Contended") == 1
        assert len(api.session.get(f"{api.url}/_sandbox/requests", timeout=10).json()["requests"]) == 21


class KeepAliveTests:
    def test_a_client_reuses_one_connection(self, api, sandbox):
        for _ in range(10):
            assert api("GET", "/api/organizations").status_code == 200
        assert api.session.get(f"{api.url}/_sandbox/requests", timeout=10).json()["connections"] == 1

    def test_connection_close_is_honoured(self, api, sandbox):
        for _ in range(3):
            answer = api("GET", "/api/organizations", headers={"Connection": "close"})
            assert answer.headers["Connection"] == "close"
        assert api.session.get(f"{api.url}/_sandbox/requests", timeout=10).json()["connections"] == 4

    def test_a_dropped_answer_closes_its_connection(self, api):
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            api("GET", "/api/organizations", headers={"X-Sandbox-Fault": "drop"})
        assert api("GET", "/api/organizations").status_code == 200  # on a new connection
