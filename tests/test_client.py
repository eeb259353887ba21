"""The Polytomic client: what it sends, how it reads answers, how it fails, how it retries.

HTTP is answered by `responses` (no network); behaviour that lives in urllib3's transport
(refused connections, timeouts) is tested against real sockets on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import re
import socket
import ssl
import threading
import time
import types
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
import responses
from hypothesis import example, given
from hypothesis import strategies as st
from urllib3.response import HTTPResponse

from audit.models import AuditEntry
from audit.protocol import AuditContext
from devtools.support import free_port
from orgadmin.idempotency import idempotency_key
from orgadmin.organizations import queries, services
from orgadmin.polytomic import transport
from orgadmin.polytomic.errors import (
    MAY_HAVE_DONE_IT,
    PolytomicAuthenticationError,
    PolytomicError,
    PolytomicForbidden,
    PolytomicNotFound,
    PolytomicUnavailable,
    PolytomicValidationError,
)
from orgadmin.polytomic.fields import Organization, OrganizationInput
from orgadmin.polytomic.text import shown_text_scrubber
from orgadmin.polytomic.transport import (
    _WATCHDOG,
    NO_RETRY,
    READ_RETRY,
    WATCHED_POOLS,
    PolytomicSession,
    _CountingRetry,
    deadline,
)
from tests.factories import make_user
from tests.support import only_call_entry, peers, tls_server_context, trickling, trickling_tls

API = "https://polytomic.test"
PARTNER_KEY = "pk-test-7d1c0e4b9a"
ORG_ID = uuid.UUID("6f4e2a10-3c5b-4d8e-9f01-23456789abcd")
ORG = {"id": str(ORG_ID), "name": "Acme", "sso_domain": "acme.com", "sso_org_id": "org_123", "issuer": None}
FULL_INPUT = OrganizationInput(
    name="Acme",
    sso_domain="acme.com",
    sso_org_id="org_123",
    issuer="https://acme.okta.com",
    client_id="client-abc",
    client_secret="oidc-secret-d8e2f4",
)
KEY = "form-key-0001"


@pytest.fixture(autouse=True)
def polytomic_settings(settings):
    settings.POLYTOMIC_API_URL = API
    settings.POLYTOMIC_PARTNER_API_KEY = PARTNER_KEY
    settings.POLYTOMIC_API_VERSION = "2025-09-18"
    settings.POLYTOMIC_CONNECT_TIMEOUT = 2.5
    settings.POLYTOMIC_READ_TIMEOUT = 7.0


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def audit_context(db) -> AuditContext:
    return AuditContext(
        actor=make_user("ed", role="Editor"),
        request_id="req-0123456789",
        client_ip="203.0.113.5",
        user_agent="Mozilla/5.0 (test)",
    )


# Each operation: how to call its service, and the HTTP request it makes.
OPERATIONS = {
    "list": (lambda c: queries.organization_list(context=c), "GET", "/api/organizations"),
    "get": (
        lambda c: queries.organization_get(context=c, organization_id=ORG_ID),
        "GET",
        f"/api/organizations/{ORG_ID}",
    ),
    "create": (
        lambda c: services.organization_create(context=c, data=FULL_INPUT, form_key=KEY),
        "POST",
        "/api/organizations",
    ),
    "update": (
        lambda c: services.organization_update(context=c, organization_id=ORG_ID, data=FULL_INPUT, form_key=KEY),
        "PUT",
        f"/api/organizations/{ORG_ID}",
    ),
    "delete": (
        lambda c: services.organization_delete(context=c, organization_id=ORG_ID),
        "DELETE",
        f"/api/organizations/{ORG_ID}",
    ),
}
SUCCESS_BODIES = {"list": {"data": [ORG]}, "get": {"data": ORG}, "create": {"data": ORG}, "update": {"data": ORG}}


def answer(api, operation: str, status: int = 200, **kwargs) -> None:
    _, method, path = OPERATIONS[operation]
    if "json" not in kwargs and "body" not in kwargs and status == 200:
        kwargs["json"] = SUCCESS_BODIES.get(operation, {})
    api.add(method, f"{API}{path}", status=status, **kwargs)


def call(operation: str, context: AuditContext):
    return OPERATIONS[operation][0](context)


class RequestTests:
    @pytest.mark.parametrize("operation", OPERATIONS)
    def test_headers_on_every_call(self, api, audit_context, operation):
        answer(api, operation)
        call(operation, audit_context)
        request = api.calls[0].request
        assert request.headers["Authorization"] == f"Bearer {PARTNER_KEY}"
        assert request.headers["X-Polytomic-Version"] == "2025-09-18"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"] == "partner-organization-portal/0.1.0"
        assert request.headers["X-Request-ID"] == "req-0123456789"
        if operation in ("create", "update"):
            assert re.fullmatch(rf"{KEY}-[0-9a-f]{{24}}", request.headers["Idempotency-Key"])
        else:  # Polytomic's idempotency guide: none on GET or DELETE
            assert "Idempotency-Key" not in request.headers
        if operation in ("create", "update"):
            assert request.headers["Content-Type"] == "application/json"

    @pytest.mark.parametrize("operation", OPERATIONS)
    def test_every_call_carries_the_timeout(self, api, audit_context, operation):
        answer(api, operation)
        call(operation, audit_context)
        assert api.calls[0].request.req_kwargs["timeout"] == (2.5, 7.0)

    @pytest.mark.parametrize("operation", ["create", "update"])
    def test_writes_send_the_whole_block(self, api, audit_context, operation):
        answer(api, operation)
        call(operation, audit_context)
        assert json.loads(api.calls[0].request.body) == {
            "name": "Acme",
            "sso_domain": "acme.com",
            "sso_org_id": "org_123",
            "issuer": "https://acme.okta.com",
            "client_id": "client-abc",
            "client_secret": "oidc-secret-d8e2f4",
        }

    def test_an_update_with_blanks_leaves_them_out_as_polytomics_sdks_do(self, api, audit_context):
        """Under full replacement a field left out is cleared: that is how a blank is said (the
        SDKs never send null, and the contract types the fields as plain strings)."""
        answer(api, "update")
        services.organization_update(
            context=audit_context, organization_id=ORG_ID, data=OrganizationInput(name="  Acme  "), form_key=KEY
        )
        assert json.loads(api.calls[0].request.body) == {"name": "Acme"}

    def test_a_body_is_trimmed_and_leaves_blanks_out(self):
        body = OrganizationInput(name=" A ", sso_domain=" ", issuer=" https://x.example ").body()
        assert body == {"name": "A", "issuer": "https://x.example"}

    def test_writes_without_a_valid_idempotency_key_are_refused_before_sending(self, api, audit_context):
        from orgadmin.polytomic.client import client

        for key in ("short", "ééééééééé", ""):
            with pytest.raises(ValueError, match="Idempotency-Key"):
                client().create_organization(FULL_INPUT, idempotency_key=key, context=audit_context)
        assert len(api.calls) == 0


class IdempotencyKeyTests:
    """A key stands for one submission: the form, what it does, to which organization, with what body."""

    def key(self, **kwargs) -> str:
        return idempotency_key(**({"form_key": KEY, "action": "organization.update"} | kwargs))

    def test_the_same_submission_has_the_same_key(self):
        body = FULL_INPUT.body()
        assert self.key(target="a", body=body) == self.key(target="a", body=dict(reversed(body.items())))

    @pytest.mark.parametrize(
        "other",
        [{"target": "b"}, {"action": "organization.delete"}, {"form_key": "other-key-1"}, {"body": {"name": "B"}}],
    )
    def test_anything_else_has_a_key_of_its_own(self, other):
        assert self.key(target="a", body={"name": "A"}) != self.key(**({"target": "a", "body": {"name": "A"}} | other))

    def test_the_key_reveals_nothing_of_the_body(self):
        key = self.key(body=FULL_INPUT.body())
        assert FULL_INPUT.client_secret not in key
        assert "Acme" not in key

    def test_one_form_key_on_two_organizations_sends_two_keys(self, api, audit_context):
        other = uuid.UUID(int=7)
        answer(api, "update")
        api.add("PUT", f"{API}/api/organizations/{other}", json={"data": ORG})
        call("update", audit_context)
        services.organization_update(context=audit_context, organization_id=other, data=FULL_INPUT, form_key=KEY)
        first, second = (c.request.headers["Idempotency-Key"] for c in api.calls)
        assert first != second

    def test_the_client_refuses_a_key_on_get_or_delete(self, api, audit_context):
        from orgadmin.polytomic.client import client

        with pytest.raises(ValueError, match="no other"):
            client()._call("DELETE", "/api/organizations/x", action="organization.delete", context=audit_context,
                           idempotency_key="k" * 32, parse=None)  # fmt: skip
        assert len(api.calls) == 0

    def test_the_client_never_shows_its_key(self):
        from orgadmin.polytomic.client import client

        assert PARTNER_KEY not in repr(client())


class ReadingAnswersTests:
    def test_list_reads_organizations_in_order_ignoring_unknown_fields(self, api, audit_context):
        owner = {"id": "00000000-0000-4000-8000-000000000001", "name": "Partner Co", "extra": {"nested": 1}}
        answer(api, "list", json={"data": [owner, ORG], "next": None})
        organizations = queries.organization_list(context=audit_context)
        assert organizations == [
            Organization(id=owner["id"], name="Partner Co"),
            Organization(id=str(ORG_ID), name="Acme", sso_domain="acme.com", sso_org_id="org_123", issuer=""),
        ]
        assert organizations[1].has_saml_sso
        assert not organizations[1].has_oidc

    def test_a_long_list_reads_as_each_organization_read_alone(self, api, audit_context):
        items = [
            {"id": str(uuid.UUID(int=n)).upper() if n % 7 == 0 else str(uuid.UUID(int=n)), "name": f"Org {n}",
             "sso_domain": None if n % 2 else f"d{n}.example", "issuer": "https://i.example" if n % 5 == 0 else None}
            for n in range(1, 301)
        ]  # fmt: skip
        answer(api, "list", json={"data": items})
        organizations = queries.organization_list(context=audit_context)
        one_by_one = [Organization.from_api(item) for item in items]
        assert len(organizations) == 300
        assert organizations == one_by_one
        assert organizations[-1] == one_by_one[-1]
        assert organizations[25:50] == one_by_one[25:50]
        assert organizations[::-100] == one_by_one[::-100]
        assert organizations[6].id == str(uuid.UUID(int=7))  # an upper-case id as Python writes it
        with pytest.raises(IndexError):
            organizations[300]

    @pytest.mark.parametrize(
        "bad",
        [
            {"id": "not-a-uuid", "name": "x"},
            {"id": 7, "name": "x"},
            {"name": "no id"},
            {"id": str(uuid.UUID(int=9)), "name": 42},
            {"id": str(uuid.UUID(int=9)), "name": "x", "issuer": ["a"]},
            "not an object",
        ],
    )
    def test_one_bad_organization_anywhere_makes_the_whole_list_unreadable(self, api, audit_context, bad):
        """The list is checked whole when it arrives, so no page can fail later on an item it shows."""
        items = [{"id": str(uuid.UUID(int=n)), "name": f"Org {n}"} for n in range(1, 500)]
        answer(api, "list", json={"data": [*items, bad]})
        with pytest.raises(PolytomicUnavailable):
            queries.organization_list(context=audit_context)

    def test_null_data_is_an_empty_list(self, api, audit_context):
        answer(api, "list", json={"data": None})
        assert queries.organization_list(context=audit_context) == []

    def test_get_reads_one_organization(self, api, audit_context):
        answer(api, "get", json={"data": {**ORG, "issuer": "https://acme.okta.com", "client_id": "never-returned"}})
        organization = queries.organization_get(context=audit_context, organization_id=ORG_ID)
        assert organization.has_oidc
        assert organization.issuer == "https://acme.okta.com"

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"status": 200},  # delete: no body
            {"status": 204},
            {"status": 200, "json": {"data": ORG}},
            {"status": 200, "body": "deleted"},
        ],
    )
    def test_delete_accepts_any_success(self, api, audit_context, kwargs):
        answer(api, "delete", **({"body": ""} | kwargs))
        assert services.organization_delete(context=audit_context, organization_id=ORG_ID) is None
        assert only_call_entry().outcome == "ok"


# What each upstream answer becomes, for every operation (delete has no body to misread).
FAILURES = [
    ("401 message", {"status": 401, "json": {"status": 401, "message": "bad key"}}, PolytomicAuthenticationError),
    (
        "401 legacy",
        {"status": 401, "json": {"code": 401, "context": {}, "error": "unauthorized", "status": "Unauthorized"}},
        PolytomicAuthenticationError,
    ),
    (
        "401 nested",
        {"status": 401, "json": {"error": {"message": "invalid or unknown API key"}}},
        PolytomicAuthenticationError,
    ),
    ("403", {"status": 403, "json": {"message": "forbidden"}}, PolytomicForbidden),
    ("404", {"status": 404, "json": {"message": "not found"}}, PolytomicNotFound),
    ("429", {"status": 429, "json": {"message": "slow down"}, "headers": {"Retry-After": "0"}}, PolytomicUnavailable),
    ("500", {"status": 500, "json": {"status": 500, "message": "internal error"}}, PolytomicUnavailable),
    (
        "502 html",
        {"status": 502, "body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"},
        PolytomicUnavailable,
    ),
    ("400", {"status": 400, "json": {"message": "bad request"}}, PolytomicError),
]
MALFORMED = [
    ("200 malformed json", {"status": 200, "body": '{"data": [', "content_type": "application/json"}),
    ("200 html", {"status": 200, "body": "<html>maintenance</html>", "content_type": "text/html"}),
    ("200 no data", {"status": 200, "json": {"result": []}}),
    ("200 wrong shape", {"status": 200, "json": {"data": {"id": 12, "name": ["x"]}}}),
]


class FailureTests:
    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize(("label", "kwargs", "expected"), FAILURES, ids=[f[0] for f in FAILURES])
    def test_answers_become_typed_errors(self, api, audit_context, operation, label, kwargs, expected):
        retried = OPERATIONS[operation][1] == "GET" and kwargs["status"] in READ_RETRY.status_forcelist
        for _ in range(3 if retried else 1):  # a GET tries three times on 429, 502, 503 and 504
            answer(api, operation, **kwargs)
        confirmed = operation == "delete" and kwargs["status"] == 404
        if confirmed:  # a 404 to a DELETE counts as done once a fresh read answers 404 too
            answer(api, "get", **kwargs)
        with pytest.raises(expected) as caught:
            call(operation, audit_context)
        assert type(caught.value) is expected
        assert caught.value.status == kwargs["status"]
        assert "<" not in caught.value.message
        entry = only_call_entry(method="DELETE") if confirmed else only_call_entry()
        assert entry.response_status == kwargs["status"]
        assert entry.outcome == ("failed" if kwargs["status"] >= 500 else "rejected")
        assert entry.error_message == caught.value.message

    @pytest.mark.parametrize("operation", ["list", "get", "create", "update"])
    @pytest.mark.parametrize(("label", "kwargs"), MALFORMED, ids=[m[0] for m in MALFORMED])
    def test_unreadable_success_is_unavailable(self, api, audit_context, operation, label, kwargs):
        if operation == "list" and label == "200 wrong shape":
            kwargs = {"status": 200, "json": {"data": {"not": "a list"}}}
        answer(api, operation, **kwargs)
        with pytest.raises(PolytomicUnavailable, match="could not read") as caught:
            call(operation, audit_context)
        method = {"list": "GET", "get": "GET", "create": "POST", "update": "PUT"}[operation]
        entry = only_call_entry(method=method)  # a write's, beside the read that looks for what it did
        # A write answered with a success that cannot be read may have been done: unknown, never failed.
        assert (entry.outcome, entry.response_status) == ("failed" if method == "GET" else "unknown", 200)
        assert (MAY_HAVE_DONE_IT in caught.value.message) == (method != "GET")

    def test_401_messages_are_found_in_each_shape(self, api, audit_context):
        for body, said in [
            ({"message": "bad key"}, "Bad key."),
            ({"code": 401, "context": {}, "error": "unauthorized", "status": "Unauthorized"}, "Unauthorized."),
            ({"error": {"message": "invalid or unknown API key"}}, "Invalid or unknown API key."),
        ]:
            api.reset()
            answer(api, "list", status=401, json=body)
            with pytest.raises(PolytomicAuthenticationError) as caught:
                queries.organization_list(context=audit_context)
            assert caught.value.message.endswith(f"Polytomic said: {said}")

    def test_plain_text_error_is_shown_cut_short(self, api, audit_context):
        answer(api, "create", status=400, body="x" * 1000, content_type="text/plain")
        with pytest.raises(PolytomicError) as caught:
            call("create", audit_context)
        assert len(caught.value.message) < 400
        assert caught.value.message.endswith("…")

    ECHOES = {
        "401 message": {"status": 401, "json": {"message": f"invalid key in Authorization: Bearer {PARTNER_KEY}"}},
        "401 cut short": {"status": 401, "json": {"message": f"bad header Bearer {PARTNER_KEY[:6]}… (truncated)"}},
        "500 error": {"status": 500, "json": {"error": {"message": f"upstream said {PARTNER_KEY}"}}},
        "422 metadata": {
            "status": 422,
            "json": {
                "message": f"client_secret {FULL_INPUT.client_secret} is not valid",
                "metadata": {"client_secret": f"got {FULL_INPUT.client_secret}", "x": [f"key {PARTNER_KEY}"]},
            },
        },
        "409": {"status": 409, "json": {"message": f"name taken (request by {PARTNER_KEY})"}},
        "400 text": {"status": 400, "body": "x" * 290 + PARTNER_KEY, "content_type": "text/plain"},
    }

    @pytest.mark.parametrize("label", ECHOES)
    def test_no_message_shown_holds_the_key_or_the_secret_sent(self, api, audit_context, label):
        """Polytomic, or a proxy before it, may echo the request: staff of any role see its message."""
        answer(api, "create", **self.ECHOES[label])
        with pytest.raises(PolytomicError) as caught:
            call("create", audit_context)
        error = caught.value
        shown = [error.message, *getattr(error, "non_field_errors", [])]
        shown += [m for messages in getattr(error, "field_errors", {}).values() for m in messages]
        for text in shown:
            assert PARTNER_KEY not in text
            assert PARTNER_KEY[:6] not in text
            assert FULL_INPUT.client_secret not in text
        assert any("[redacted]" in text for text in shown)

    def test_429_keeps_retry_after(self, api, audit_context):
        answer(api, "create", status=429, json={"message": "slow"}, headers={"Retry-After": "12"})
        with pytest.raises(PolytomicUnavailable) as caught:
            call("create", audit_context)
        assert caught.value.retry_after == 12
        assert "Try again in 12 seconds" in caught.value.message


class ValidationErrorTests:
    @pytest.mark.parametrize("operation", ["create", "update"])
    def test_409_name_taken_lands_on_name(self, api, audit_context, operation):
        answer(api, operation, status=409, json={"status": 409, "message": "organization name already exists"})
        with pytest.raises(PolytomicValidationError) as caught:
            call(operation, audit_context)
        assert caught.value.field_errors == {"name": ["Organization name already exists."]}
        assert not caught.value.in_flight

    @pytest.mark.parametrize(
        "body",
        [
            {"status": 409, "message": "a request with this Idempotency-Key is already in progress"},
            {"status": 409, "key": "idempotency_key_in_flight", "message": "conflict"},
        ],
    )
    def test_409_in_flight_is_told_apart(self, api, audit_context, body):
        answer(api, "create", status=409, json=body)
        with pytest.raises(PolytomicValidationError) as caught:
            call("create", audit_context)
        assert caught.value.in_flight
        assert caught.value.field_errors == {}
        assert "still being processed" in caught.value.message

    def test_409_is_not_retried(self, api, audit_context):
        answer(api, "create", status=409, json={"message": "taken"})
        with pytest.raises(PolytomicValidationError):
            call("create", audit_context)
        assert len(api.calls) == 1

    def test_422_metadata_object_lands_on_fields(self, api, audit_context):
        body = {
            "status": 422,
            "message": "validation failed",
            "metadata": {"issuer": "must be an https URL", "sso_domain": ["bad domain", "too long"], "other": "x"},
        }
        answer(api, "update", status=422, json=body)
        with pytest.raises(PolytomicValidationError) as caught:
            call("update", audit_context)
        assert caught.value.field_errors == {
            "issuer": ["Must be an https URL."],
            "sso_domain": ["Bad domain.", "Too long."],
        }
        assert caught.value.non_field_errors == ["Validation failed.", "X."]

    def test_422_metadata_array(self, api, audit_context):
        body = {
            "message": "invalid",
            "metadata": ["client_id and client_secret go together", {"field": "name", "message": "required"}],
        }
        answer(api, "create", status=422, json=body)
        with pytest.raises(PolytomicValidationError) as caught:
            call("create", audit_context)
        assert caught.value.field_errors == {"name": ["Required."]}
        assert caught.value.non_field_errors == ["Invalid.", "Client_id and client_secret go together."]

    def test_422_without_metadata_shows_the_message(self, api, audit_context):
        answer(api, "create", status=422, json={"status": 422, "message": "issuer is not reachable"})
        with pytest.raises(PolytomicValidationError) as caught:
            call("create", audit_context)
        assert caught.value.field_errors == {}
        assert caught.value.non_field_errors == ["Issuer is not reachable."]

    def test_422_is_not_retried_even_on_get(self, api, audit_context):
        answer(api, "get", status=422, json={"message": "nope"})
        with pytest.raises(PolytomicValidationError):
            call("get", audit_context)
        assert len(api.calls) == 1


class RetryTests:
    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    @pytest.mark.parametrize("operation", ["list", "get"])
    def test_get_is_retried_then_succeeds(self, api, audit_context, operation, status):
        answer(api, operation, status=status, json={"message": "busy"}, headers={"Retry-After": "0"})
        answer(api, operation)
        call(operation, audit_context)
        assert len(api.calls) == 2
        entry = only_call_entry()
        assert (entry.outcome, entry.attempts, entry.response_status) == ("ok", 2, 200)

    def test_get_gives_up_after_two_retries(self, api, audit_context):
        for _ in range(3):
            answer(api, "list", status=503, json={"message": "down"})
        with pytest.raises(PolytomicUnavailable):
            call("list", audit_context)
        assert len(api.calls) == 3
        assert only_call_entry().attempts == 3

    def test_500_is_not_retried(self, api, audit_context):
        answer(api, "get", status=500, json={"message": "bug"})
        answer(api, "get")
        api.assert_all_requests_are_fired = False  # the good answer is there to stay unasked for
        with pytest.raises(PolytomicUnavailable):
            call("get", audit_context)
        assert len(api.calls) == 1

    @pytest.mark.parametrize("operation", ["create", "update", "delete"])
    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    def test_writes_are_never_retried(self, api, audit_context, operation, status):
        answer(api, operation, status=status, json={"message": "busy"}, headers={"Retry-After": "0"})
        answer(api, operation)
        api.assert_all_requests_are_fired = False  # the good answer is there to stay unasked for
        with pytest.raises(PolytomicUnavailable):
            call(operation, audit_context)
        assert len(api.calls) == 1
        assert only_call_entry().attempts == 1

    def test_retry_after_is_honoured_but_capped(self):
        retry = _CountingRetry(total=2, respect_retry_after_header=True)
        assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "2"})) == 2
        assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "3600"})) == 3.0


# --- Real sockets on loopback ---------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: every request times out reading."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def raw_server() -> Iterator:
    """A loopback server that reads one request per connection and answers with `answer(conn, stop)`."""
    servers = []

    def start(answer) -> str:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.1)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn = server.accept()[0]
                except OSError:
                    continue
                with conn:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(65536) or b"\r\n\r\n"
                    with contextlib.suppress(OSError):
                        answer(conn, stop)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((server, stop, thread))
        return f"http://127.0.0.1:{server.getsockname()[1]}"

    yield start
    for server, stop, thread in servers:
        stop.set()
        thread.join(timeout=5)
        server.close()


class TrickledHead:
    """Answers with the status line and headers a byte every 50 ms: each read is quick, the whole
    (50 s) is not. `hung_up` is set when the client hangs up on it, with `sent` bytes sent."""

    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"p" * 1000

    def __init__(self) -> None:
        self.hung_up = threading.Event()
        self.sent = 0

    def __call__(self, conn: socket.socket, stop: threading.Event) -> None:
        try:
            for byte in self.HEAD:
                if stop.wait(0.05):
                    return
                conn.sendall(bytes([byte]))
                self.sent += 1
        except OSError:
            self.hung_up.set()


def endless_chunked_body(conn: socket.socket, stop: threading.Event) -> None:
    """A 200 whose chunked body never ends, and declares no length."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b'{"data": {"id": "x", "name": "' + b"x" * 65536
    while not stop.is_set():
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        chunk = b"x" * 65536


class BoundedAnswerTests:
    @pytest.mark.parametrize("operation", ["get", "update"])
    def test_a_trickled_status_line_ends_at_the_total_deadline(self, settings, audit_context, raw_server, operation):
        head = TrickledHead()
        settings.POLYTOMIC_API_URL = raw_server(head)
        settings.POLYTOMIC_TOTAL_TIMEOUT = 1.0
        with pytest.raises(PolytomicUnavailable, match="did not finish answering within 1 seconds"):
            call(operation, audit_context)
        entry = only_call_entry()
        # The status line arrived whole before the headers stalled; their end never did. (A write
        # so cut short may have been done: unknown.)
        outcome = "failed" if operation == "get" else "unknown"
        assert (entry.outcome, entry.response_status, entry.attempts) == (outcome, 200, 1)
        assert head.hung_up.wait(timeout=10)  # the client hung up on it, long before its end
        assert 0 < head.sent < len(head.HEAD)

    def test_an_endless_body_is_cut_off_at_the_limit(self, settings, audit_context, raw_server):
        settings.POLYTOMIC_API_URL = raw_server(endless_chunked_body)
        settings.POLYTOMIC_MAX_RESPONSE_BYTES = 2 * 1024 * 1024
        with pytest.raises(PolytomicUnavailable, match="larger than the portal accepts"):
            call("get", audit_context)
        assert (only_call_entry().outcome, only_call_entry().response_status) == ("failed", 200)

    def test_a_gzipped_answer_counts_as_it_unpacks(self, api, audit_context, settings):
        settings.POLYTOMIC_MAX_RESPONSE_BYTES = 100_000
        bomb = gzip.compress(json.dumps({"data": [ORG] * 5000}).encode())  # ~0.6 MB unpacked
        assert len(bomb) < 100_000
        answer(api, "list", body=bomb, headers={"Content-Encoding": "gzip"}, content_type="application/json")
        with pytest.raises(PolytomicUnavailable, match="larger than the portal accepts"):
            call("list", audit_context)


# Each way an answer can come slowly: what is sent at once, then what is trickled after it, a
# byte every TRICKLE_SECONDS (5 s for the whole drip, when nothing cuts it off).
TRICKLE_SECONDS = 0.05
DRIP = b'{"data": ' + b" " * 100
JSON_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
TRICKLED_ANSWERS = {
    "status-line": (b"", b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"y" * 100),
    "headers": (JSON_200, b"X-Slow: " + b"y" * 100),
    "chunked-body": (JSON_200 + b"Transfer-Encoding: chunked\r\n\r\n400\r\n", DRIP),
    "declared-body": (JSON_200 + b"Content-Length: 1000\r\n\r\n", DRIP),
    "declared-body-then-close": (JSON_200 + b"Content-Length: 1000\r\nConnection: close\r\n\r\n", DRIP),
    "body-until-close": (JSON_200 + b"\r\n", DRIP),  # no length: the body ends when the connection does
}


@pytest.fixture(scope="module")
def tls_peer(tmp_path_factory) -> tuple[ssl.SSLContext, str]:
    """A TLS server context for peers on 127.0.0.1, and the certificate file that trusts it."""
    return tls_server_context(tmp_path_factory.mktemp("tls"))


class DeadlineTests:
    """However slowly Polytomic answers, over http or https, a call ends at its deadline
    (POLYTOMIC_TOTAL_TIMEOUT): a read as one that did not finish in time, a write as one that may
    have happened."""

    TOTAL_SECONDS = 1.0
    BOUND = TOTAL_SECONDS + 1.0  # the slack a loaded test machine is given to notice

    @pytest.fixture
    def serve(self, settings, monkeypatch, tls_peer) -> Iterator:
        """Starts a peer, and points the client at it, over `scheme`."""
        settings.POLYTOMIC_TOTAL_TIMEOUT = self.TOTAL_SECONDS
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_peer[1])  # read as the client is made, below

        with peers() as start:

            def serving(behaviour, scheme: str):
                peer = start(behaviour)
                settings.POLYTOMIC_API_URL = peer.origin(scheme)
                return peer

            yield serving

    def fails_at_the_deadline(self, operation: str, audit_context: AuditContext) -> None:
        started = time.monotonic()
        with pytest.raises(PolytomicUnavailable, match="did not finish answering within 1 seconds") as caught:
            call(operation, audit_context)
        took = time.monotonic() - started
        assert took < self.BOUND, took
        assert (MAY_HAVE_DONE_IT in caught.value.message) == (operation != "get")
        entry = only_call_entry()  # and no read straight away, which would wait as long again
        assert (entry.outcome, entry.attempts) == ("failed" if operation == "get" else "unknown", 1)

    @pytest.mark.parametrize("scheme", ["http", "https"])
    @pytest.mark.parametrize("shape", TRICKLED_ANSWERS)
    @pytest.mark.parametrize("operation", ["get", "update"])
    def test_a_trickled_answer(self, audit_context, serve, tls_peer, operation, shape, scheme):
        head, drip = TRICKLED_ANSWERS[shape]
        tls = tls_peer[0] if scheme == "https" else None
        peer = serve(trickling(head, drip, interval=TRICKLE_SECONDS, tls=tls), scheme)
        self.fails_at_the_deadline(operation, audit_context)
        assert peer.sent >= 2  # it was trickling, not stuck or closed

    @pytest.mark.parametrize("operation", ["get", "update"])
    def test_a_trickled_tls_handshake(self, audit_context, serve, operation):
        peer = serve(trickling_tls(interval=TRICKLE_SECONDS), "https")
        self.fails_at_the_deadline(operation, audit_context)
        assert peer.sent >= 2


class TransportTests:
    @pytest.mark.parametrize(("operation", "attempts"), [("list", 3), ("get", 3), ("create", 1), ("delete", 1)])
    def test_refused_connection(self, settings, audit_context, operation, attempts):
        settings.POLYTOMIC_API_URL = f"http://127.0.0.1:{free_port()}"
        with pytest.raises(PolytomicUnavailable, match="could not reach Polytomic"):
            call(operation, audit_context)
        entry = only_call_entry()
        assert (entry.outcome, entry.response_status, entry.attempts) == ("failed", None, attempts)

    @pytest.mark.parametrize("operation", ["get", "update"])
    def test_timeout_is_enforced_and_not_retried(self, settings, audit_context, silent_server, operation):
        settings.POLYTOMIC_API_URL = silent_server
        settings.POLYTOMIC_READ_TIMEOUT = 0.3
        with pytest.raises(PolytomicUnavailable, match="did not answer in time") as caught:
            call(operation, audit_context)
        assert (MAY_HAVE_DONE_IT in caught.value.message) == (operation == "update")
        entry = only_call_entry()
        assert (entry.outcome, entry.response_status, entry.attempts) == (
            "failed" if operation == "get" else "unknown", None, 1
        )  # fmt: skip


class EnvironmentTests:
    """Proxy and CA bundle settings come from the environment, read once when the client is made
    (requests would read the whole environment again on every call)."""

    def make(self, monkeypatch, **environment: str) -> PolytomicSession:
        for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return PolytomicSession(base_url="https://app.polytomic.com", timeout=(1, 1), retries=NO_RETRY, pool_size=1)

    def test_a_proxy_in_the_environment_is_used(self, monkeypatch):
        session = self.make(monkeypatch, HTTPS_PROXY="http://proxy.internal:3128")
        assert session.proxies["https"] == "http://proxy.internal:3128"
        assert session.trust_env is False

    def test_no_proxy_is_respected(self, monkeypatch):
        session = self.make(monkeypatch, HTTPS_PROXY="http://proxy.internal:3128", NO_PROXY="polytomic.com")
        assert "https" not in session.proxies

    def test_a_ca_bundle_in_the_environment_is_used(self, monkeypatch):
        assert self.make(monkeypatch, REQUESTS_CA_BUNDLE="/etc/ssl/company.pem").verify == "/etc/ssl/company.pem"
        assert self.make(monkeypatch).verify is True


class DeadlineOwnershipTests:
    """A call's deadline breaks only the connection while that call holds it: once the pool has it
    back, another call may be using it."""

    def connection(self):
        left, right = socket.socketpair()
        for end in (left, right):
            end.settimeout(5)  # what the deadline fails to do ends the test, not the run
        return types.SimpleNamespace(sock=left), right

    def test_the_deadline_breaks_the_connection_its_call_still_holds(self):
        held, other_end = self.connection()
        deadline = _WATCHDOG.start(0.05)
        _WATCHDOG.attach(deadline, held, held.sock)
        assert deadline.expired.wait(timeout=5)
        assert held.sock.recv(1) == b""  # shut down: a read blocked on it returns at once
        other_end.close()
        _WATCHDOG.finish(deadline)
        held.sock.close()

    def test_it_breaks_the_socket_even_once_the_connection_has_let_go_of_it(self):
        """As http.client does when an answer ends by closing the connection, and TLS when it wraps
        the socket: the deadline holds the socket itself, not the connection's attribute."""
        held, other_end = self.connection()
        deadline = _WATCHDOG.start(0.05)
        _WATCHDOG.attach(deadline, held, held.sock)
        reading, held.sock = held.sock, None
        assert deadline.expired.wait(timeout=5)
        assert reading.recv(1) == b""
        other_end.close()
        _WATCHDOG.finish(deadline)
        reading.close()

    def test_once_the_call_ends_closing_the_connection_closes_it(self):
        """The deadline's hold on a socket ends with the call: it keeps no connection open."""
        held, other_end = self.connection()
        deadline = _WATCHDOG.start(30)
        _WATCHDOG.attach(deadline, held, held.sock)
        _WATCHDOG.finish(deadline)
        held.sock.close()
        assert other_end.recv(1) == b""  # the peer sees the connection end
        other_end.close()

    def test_it_never_breaks_one_another_call_has_taken_since(self):
        shared, other_end = self.connection()
        first = _WATCHDOG.start(0.05)
        _WATCHDOG.attach(first, shared, shared.sock)
        _WATCHDOG.release(shared)  # back in its pool, as urllib3 returns it before a retry's wait
        second = _WATCHDOG.start(30)
        _WATCHDOG.attach(second, shared, shared.sock)  # taken by another call
        assert first.expired.wait(timeout=5)
        other_end.sendall(b"x")
        assert shared.sock.recv(1) == b"x"  # still open for the second call
        _WATCHDOG.finish(second)
        _WATCHDOG.finish(first)
        shared.sock.close()
        other_end.close()

    def test_the_pool_takes_its_connections_back_from_the_deadline(self):
        pool = WATCHED_POOLS["http"]("127.0.0.1", free_port())
        connection = pool._get_conn()
        deadline = _WATCHDOG.start(30)
        _WATCHDOG.attach(deadline, connection)
        assert connection.polytomic_deadline is deadline
        pool._put_conn(connection)
        assert connection.polytomic_deadline is None
        _WATCHDOG.finish(deadline)

    def test_nothing_is_sent_once_the_deadline_has_passed(self):
        deadline = _WATCHDOG.start(0)
        assert deadline.expired.wait(timeout=5)
        with pytest.raises(TimeoutError, match="deadline has passed"):
            _WATCHDOG.attach(deadline, types.SimpleNamespace(sock=None))

    def test_a_retry_waits_no_longer_than_the_deadline_allows(self, monkeypatch):
        waits: list[float] = []
        monkeypatch.setattr(transport.time, "sleep", waits.append)  # the clock, not the code under test
        retry = READ_RETRY.new()
        answer = HTTPResponse(status=503, headers={"Retry-After": "3"})
        with deadline(0.5):
            retry.sleep(answer)
        with deadline(30):
            retry.sleep(answer)
        assert 0 < waits[0] <= 0.5
        assert waits[1] == 3  # Retry-After, as capped, when the deadline allows it


class UpstreamIdTests:
    @pytest.mark.parametrize(
        ("sent", "read"),
        [(str(ORG_ID).upper(), str(ORG_ID)), ("{" + str(ORG_ID) + "}", str(ORG_ID)), (str(ORG_ID), str(ORG_ID))],
    )
    def test_an_id_is_read_as_the_uuid_it_is(self, sent, read):
        assert Organization.from_api({"id": sent, "name": "Acme"}).id == read

    @pytest.mark.parametrize("sent", ["org_123", "", "00000000-0000-0000-0000"])
    def test_an_id_that_is_no_uuid_is_unreadable(self, api, audit_context, sent):
        """The pages' addresses take a UUID: one such organization would otherwise break the list."""
        answer(api, "list", json={"data": [ORG, {"id": sent, "name": "Odd"}]})
        with pytest.raises(PolytomicUnavailable, match="could not read"):
            call("list", audit_context)


# The partner key as an answer may echo it: a proxy's or a framework's error page repeating the
# request's headers, URL or credentials in some encoding.
def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


ENCODINGS = {
    "as it is": lambda key, org: key,
    "Bearer header": lambda key, org: f"Authorization: Bearer {key}",
    "percent-encoded": lambda key, org: urllib.parse.quote(key, safe=""),
    "percent-encoded in a form": lambda key, org: urllib.parse.quote_plus(key),
    "every byte percent-encoded": lambda key, org: "".join(f"%{byte:02x}" for byte in key.encode()),
    "every byte percent-encoded, upper case": lambda key, org: "".join(f"%{byte:02X}" for byte in key.encode()),
    "base64": lambda key, org: _b64(key),
    "base64 unpadded": lambda key, org: _b64(key).rstrip("="),
    "base64url": lambda key, org: _b64url(key),
    "base64url unpadded": lambda key, org: _b64url(key).rstrip("="),
    "hex": lambda key, org: key.encode().hex(),
    "hex, upper case": lambda key, org: key.encode().hex().upper(),
    "Basic key:": lambda key, org: f"Basic {_b64(f'{key}:')}",
    "Basic :key": lambda key, org: f"Basic {_b64(f':{key}')}",
    "Basic id:key": lambda key, org: f"Basic {_b64(f'{org}:{key}')}",
    "Basic id:key, base64url": lambda key, org: _b64url(f"{org}:{key}"),
}
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+")
HEX_RUN = re.compile(r"[0-9A-Fa-f]+")


def reveals(text: str, key: str) -> list[str]:
    """The ways `text` gives the key away whole: as it is, percent-decoded, or decoded from any
    run of base64 (either alphabet, from any character on) or of hex (from either digit)."""
    found = [
        way for way, decoded in (("as it is", text), ("percent", urllib.parse.unquote_plus(text))) if key in decoded
    ]
    data = key.encode()
    for run in BASE64_RUN.findall(text):
        run = run.translate(str.maketrans("-_", "+/"))
        for start in range(4):
            chars = run[start:]
            chars = chars[:-1] if len(chars) % 4 == 1 else chars + "=" * (-len(chars) % 4)  # one char is no byte
            if data in base64.b64decode(chars):
                found.append(f"base64 {run!r}")
    for run in HEX_RUN.findall(text):
        for start in range(2):
            digits = run[start:][: len(run[start:]) // 2 * 2]
            if data in bytes.fromhex(digits):
                found.append(f"hex {run!r}")
    return found


# Keys and secrets as Polytomic and identity providers make them (long, printable); "[" and "]"
# are left out so that a key cannot be spelt across the "[redacted]" that replaces another.
KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="[]"),
    min_size=12,
    max_size=48,
)


class EncodedKeyTests:
    """No message shown to staff, logged or stored in the audit log holds the key in any encoding
    an answer may echo it in: every such text passes through `shown_text_scrubber`."""

    @given(
        key=KEYS,
        org=st.one_of(st.uuids().map(str), st.text(max_size=20)),
        encoding=st.sampled_from(sorted(ENCODINGS)),
        before=st.text(max_size=40),
        after=st.text(max_size=40),
    )
    @example(key=PARTNER_KEY, org=str(ORG_ID), encoding="Basic id:key", before="", after="")
    @example(key="key with spaces/+&=é€😀", org="o", encoding="percent-encoded in a form", before="%", after="+")
    def test_no_encoding_of_the_key_survives_scrubbing(self, key, org, encoding, before, after):
        echoed = ENCODINGS[encoding](key, org)
        text = f"{before}{echoed}{after}"
        scrubbed = shown_text_scrubber((key, "another-secret-value"))(text)
        assert reveals(text, key)  # the test's own reading finds the key before scrubbing
        assert reveals(scrubbed, key) == []
        assert "[redacted]" in scrubbed

    def test_an_answer_echoing_the_key_encoded_shows_logs_and_stores_none_of_it(self, api, audit_context, caplog):
        echoes = [encode(PARTNER_KEY, str(ORG_ID)) for encode in ENCODINGS.values()]
        answer(api, "create", status=400, json={"message": " | ".join(echoes), "headers": echoes})
        with caplog.at_level(logging.DEBUG), pytest.raises(PolytomicError) as caught:
            call("create", audit_context)
        stored = json.dumps(list(AuditEntry.objects.values()), default=str)
        for text in (caught.value.message, caplog.text, stored):
            assert reveals(text, PARTNER_KEY) == []
        assert "[redacted]" in caught.value.message
