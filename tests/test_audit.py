"""The audit log: what an entry holds, what it never holds, and that it cannot be changed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC

import pytest
import responses
from django.db import connection, transaction
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AppendOnlyError, AuditEntry
from audit.protocol import AuditContext
from orgadmin.organizations import queries, services
from orgadmin.polytomic.errors import PolytomicError, PolytomicValidationError
from orgadmin.polytomic.fields import OrganizationInput
from orgadmin.polytomic.recording import (
    RESPONSE_BODY_MAX_CHARS,
    _mask_json,
    mask_answer,
    mask_request_body,
)
from orgadmin.polytomic.text import scrubber
from orgadmin.polytomic.transport import Answer
from tests.factories import make_user
from tests.support import attempt_of, only_call_entry

API = "https://polytomic.test"
PARTNER_KEY = "pk-audit-5e8a1f3c2b"
SECRET = "oidc-secret-31415926"
ORG_ID = uuid.UUID("0b6f5d2e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")
INPUT = OrganizationInput(
    name="Globex",
    sso_domain="globex.com",
    issuer="https://globex.okta.com",
    client_id="globex-client",
    client_secret=SECRET,
)
KEY = "form-key-audit-1"


@pytest.fixture(autouse=True)
def polytomic_settings(settings):
    settings.POLYTOMIC_API_URL = API
    settings.POLYTOMIC_PARTNER_API_KEY = PARTNER_KEY


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def editor_context(db):
    return AuditContext(
        actor=make_user("ed", role="Editor"), request_id="req-abcdef123", client_ip="198.51.100.4", user_agent="UA/1"
    )


def all_column_values() -> str:
    """Every stored value of every entry, as one text to search."""
    return json.dumps(list(AuditEntry.objects.values()), default=str)


class EntryContentTests:
    def test_a_create_is_recorded_in_full(self, api, editor_context):
        created = {"id": str(ORG_ID), "name": "Globex", "sso_domain": "globex.com", "issuer": "https://globex.okta.com"}
        api.add(
            "POST",
            f"{API}/api/organizations",
            json={"data": created},
            status=200,
            headers={"X-Polytomic-Version": "2025-09-18", "X-Request-ID": "upstream-42"},
        )
        services.organization_create(context=editor_context, data=INPUT, form_key=KEY)

        entry = only_call_entry()  # the outcome; what was sent is on the attempt before it
        attempt = attempt_of(entry)
        for recorded in (attempt, entry):
            assert recorded.created_at.tzinfo is not None
            assert recorded.created_at.utcoffset() == UTC.utcoffset(None)
            assert recorded.actor == editor_context.actor
            assert recorded.actor_username == "ed"
            assert (recorded.action, recorded.method, recorded.path) == (
                "organization.create",
                "POST",
                "/api/organizations",
            )
            assert recorded.idempotency_key == api.calls[0].request.headers["Idempotency-Key"]
            assert recorded.idempotency_key.startswith(f"{KEY}-")
            assert recorded.request_id == "req-abcdef123"
            assert (recorded.client_ip, recorded.user_agent) == ("198.51.100.4", "UA/1")
        assert attempt.request_body == {  # the blank sso_org_id is left out, as it is sent
            "name": "Globex",
            "sso_domain": "globex.com",
            "issuer": "https://globex.okta.com",
            "client_id": "globex-client",
            "client_secret": "[set]",
        }
        assert (attempt.outcome, attempt.response_status, attempt.organization_id) == ("unknown", None, "")
        assert attempt.organization_name == "Globex"  # from the input: a create has no id until it is answered
        assert (entry.phase, entry.attempt_id) == ("outcome", attempt.id)
        assert (entry.organization_id, entry.organization_name) == (str(ORG_ID), "Globex")
        assert json.loads(entry.response_body) == {"data": created}
        assert (entry.response_status, entry.outcome, entry.error_message) == (200, "ok", "")
        assert entry.attempts == 1
        assert entry.duration_ms >= 0
        assert (entry.api_version, entry.upstream_request_id) == ("2025-09-18", "upstream-42")

    def test_a_write_is_recorded_before_it_is_sent(self, api, editor_context):
        seen_when_sent = []

        def polytomic(request):
            seen_when_sent.extend(AuditEntry.objects.values_list("phase", "action", "outcome", "idempotency_key"))
            return 200, {}, json.dumps({"data": {"id": str(ORG_ID), "name": "Globex"}})

        api.add_callback(
            "PUT", f"{API}/api/organizations/{ORG_ID}", callback=polytomic, content_type="application/json"
        )
        services.organization_update(context=editor_context, organization_id=ORG_ID, data=INPUT, form_key=KEY)
        sent_key = api.calls[0].request.headers["Idempotency-Key"]
        assert seen_when_sent == [("attempt", "organization.update", "unknown", sent_key)]
        assert attempt_of(only_call_entry()).organization_id == str(ORG_ID)

    def test_a_read_is_recorded_with_the_organization_it_found(self, api, editor_context):
        api.add("GET", f"{API}/api/organizations/{ORG_ID}", json={"data": {"id": str(ORG_ID), "name": "Globex"}})
        queries.organization_get(context=editor_context, organization_id=ORG_ID)
        entry = AuditEntry.objects.get()
        assert (entry.action, entry.organization_id, entry.organization_name) == (
            "organization.get",
            str(ORG_ID),
            "Globex",
        )
        assert entry.request_body is None

    def test_a_blank_secret_is_recorded_as_not_sent(self, api, editor_context):
        api.add("PUT", f"{API}/api/organizations/{ORG_ID}", json={"data": {"id": str(ORG_ID), "name": "Globex"}})
        services.organization_update(
            context=editor_context, organization_id=ORG_ID, data=OrganizationInput(name="Globex"), form_key=KEY
        )
        assert "client_secret" not in attempt_of(only_call_entry()).request_body  # none sent

    def test_the_entry_masks_the_body_the_client_read_without_reading_it_again(self, api, editor_context, monkeypatch):
        import orgadmin.polytomic.recording

        class NoParsing:
            dumps = staticmethod(json.dumps)

            @staticmethod
            def loads(text):
                raise AssertionError("the audit log read the answer again")

        api.add("GET", f"{API}/api/organizations", json={"data": [{"id": str(ORG_ID), "name": "Globex", "x": 1}]})
        monkeypatch.setattr(orgadmin.polytomic.recording, "json", NoParsing)
        queries.organization_list(context=editor_context)
        monkeypatch.undo()
        assert json.loads(AuditEntry.objects.get().response_body) == {
            "data": [{"id": str(ORG_ID), "name": "Globex", "x": "[redacted]"}]
        }

    def test_long_response_bodies_are_cut(self, api, editor_context):
        organizations = [{"id": str(uuid.uuid4()), "name": f"Customer {n}"} for n in range(500)]
        api.add("GET", f"{API}/api/organizations", json={"data": organizations})
        queries.organization_list(context=editor_context)
        body = AuditEntry.objects.get().response_body
        assert len(body) < RESPONSE_BODY_MAX_CHARS + 60
        assert body.endswith("characters in all]")

    def test_a_long_list_is_masked_only_as_far_as_it_is_kept(self):
        """What is stored of a long list is exactly the start of the whole list masked, although
        only that start is masked; the secret is gone from it either way."""
        secret = "list-secret-value"
        organizations = [
            {"id": str(uuid.UUID(int=n)), "name": f"Customer {n} {secret}", "unknown": "x"} for n in range(3000)
        ]
        text = json.dumps({"data": organizations})
        scrub = scrubber((secret,))
        whole = json.dumps(_mask_json(json.loads(text), scrub, limit=10**9), ensure_ascii=False, separators=(",", ":"))
        stored = mask_answer(Answer(status=200, headers={}, text=text, json=json.loads(text), is_json=True), scrub)
        assert stored == f"{whole[:RESPONSE_BODY_MAX_CHARS]}… [cut: {len(text):,} characters in all]"
        assert secret not in stored
        assert '"unknown":"[redacted]"' in stored
        # The body the client already read is used as it is, not read again from the text.
        read = Answer(status=200, headers={}, text=text, json={"data": []}, is_json=True)
        assert mask_answer(read, scrub) == '{"data":[]}'


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(st.sampled_from(["data", "id", "name", "issuer", "client_secret", "x", 'é\\"']), children)
    ),
    max_leaves=40,
)


@given(value=JSON_VALUES, limit=st.integers(min_value=0, max_value=200))
def test_what_is_masked_reaches_as_far_as_the_limit_whatever_the_json(value, limit):
    """Masking stops once what is built is longer than the limit, counted without serialising:
    the masked JSON, cut at the limit, is the same as the JSON of the value masked whole, cut
    there (escaped and non-ASCII text, nesting, secrets included)."""

    def compact(masked):
        return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))

    scrub = scrubber(("secret-value",))
    assert compact(_mask_json(value, scrub, limit))[:limit] == compact(_mask_json(value, scrub, 10**9))[:limit]


class MaskingTests:
    def test_neither_the_partner_key_nor_the_secret_is_stored_even_when_echoed(self, api, editor_context):
        echo = {
            "status": 422,
            "message": f"client_secret {SECRET} rejected for key {PARTNER_KEY}",
            "metadata": {"client_secret": SECRET, "authorization": f"Bearer {PARTNER_KEY}", "issuer": "bad"},
            "debug": {"headers": {"Authorization": f"Bearer {PARTNER_KEY}"}},
        }
        api.add("POST", f"{API}/api/organizations", status=422, json=echo)
        with pytest.raises(PolytomicValidationError):
            services.organization_create(context=editor_context, data=INPUT, form_key=KEY)
        stored = all_column_values()
        assert PARTNER_KEY not in stored
        assert SECRET not in stored
        entry = only_call_entry()
        assert json.loads(entry.response_body)["metadata"] == {
            "client_secret": "[set]",
            "authorization": "[redacted]",
            "issuer": "bad",
        }
        assert json.loads(entry.response_body)["debug"] == "[redacted]"
        assert "[redacted]" in entry.error_message

    def test_a_key_echoed_cut_short_is_not_stored(self, api, editor_context):
        """Admins read the stored bodies: an echo of the key cut short gives away its start."""
        echo = {"message": f"bad credentials: Bearer {PARTNER_KEY[:8]}…", "debug": f"key {PARTNER_KEY[:12]}…"}
        api.add("GET", f"{API}/api/organizations", status=401, json=echo)
        with pytest.raises(PolytomicError):
            queries.organization_list(context=editor_context)
        stored = all_column_values()
        assert PARTNER_KEY[:8] not in stored
        assert "Bearer [redacted]" in AuditEntry.objects.get().response_body

    def test_secret_in_a_non_json_body_is_removed(self, api, editor_context):
        api.add(
            "POST", f"{API}/api/organizations", status=502, body=f"upstream said {SECRET}", content_type="text/plain"
        )
        with pytest.raises(Exception):  # noqa: B017, PT011 (the failure class is tested in test_client)
            services.organization_create(context=editor_context, data=INPUT, form_key=KEY)
        assert SECRET not in all_column_values()

    def test_request_masking_is_an_allowlist(self):
        assert mask_request_body({"name": "A", "client_secret": "s", "client_id": "c", "password": "p"}) == {
            "name": "A",
            "client_secret": "[set]",
            "client_id": "c",
            "password": "[redacted]",
        }


def make_entry(**fields) -> AuditEntry:
    defaults = {
        "actor_username": "ed",
        "action": AuditEntry.Action.LIST,
        "method": "GET",
        "path": "/api/organizations",
        "outcome": AuditEntry.Outcome.OK,
        "duration_ms": 12,
    }
    entry = AuditEntry(**(defaults | fields))
    entry.save()
    return entry


@pytest.mark.django_db
class AppendOnlyTests:
    def test_an_entry_cannot_be_saved_again(self):
        entry = make_entry()
        entry.outcome = AuditEntry.Outcome.FAILED
        with pytest.raises(AppendOnlyError):
            entry.save()
        assert AuditEntry.objects.get().outcome == "ok"

    def test_an_entry_cannot_be_deleted(self):
        entry = make_entry()
        with pytest.raises(AppendOnlyError):
            entry.delete()
        assert AuditEntry.objects.count() == 1

    def test_querysets_cannot_update_or_delete(self):
        make_entry()
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.filter(action="organization.list").update(outcome="failed")
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.all().delete()
        with pytest.raises(AppendOnlyError):
            AuditEntry.objects.bulk_update(list(AuditEntry.objects.all()), ["outcome"])
        assert AuditEntry.objects.filter(outcome="ok").count() == 1

    def test_deleting_a_user_keeps_their_entries_and_name(self):
        user = make_user("leaver", role="Editor")
        make_entry(actor=user, actor_username="leaver")
        user.delete()
        entry = AuditEntry.objects.get()
        assert entry.actor_username == "leaver"
        assert entry.actor_id is not None


@pytest.mark.django_db
class AdminTests:
    def test_entries_are_read_only_in_the_admin(self, client):
        client.force_login(make_user("root", is_staff=True, is_superuser=True))
        entry = make_entry()
        change = client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
        assert change.status_code == 200
        assert 'name="_save"' not in change.content.decode()
        assert client.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"outcome": "failed"}).status_code == 403
        assert client.get("/admin/audit/auditentry/add/").status_code == 403
        assert client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        assert AuditEntry.objects.get().outcome == "ok"

    def test_staff_without_the_audit_permission_cannot_browse_entries(self, client):
        client.force_login(make_user("helper", is_staff=True))
        assert client.get("/admin/audit/auditentry/").status_code == 403


class RollbackTests:
    @pytest.mark.django_db(transaction=True, databases="__all__")
    def test_an_entry_survives_the_rollback_of_the_callers_transaction(self, api):
        """On PostgreSQL the entry is written through a second connection and outlives the rollback.
        SQLite has one writer at a time: there the entry shares the transaction's fate (README), and
        the call's rollback takes its entry with it."""
        context = AuditContext(actor=make_user("ed"))
        api.add("GET", f"{API}/api/organizations", json={"data": []})

        def caller_that_rolls_back():
            with transaction.atomic():
                make_user("rolled-back")
                queries.organization_list(context=context)
                raise RuntimeError("the caller gives up")

        with pytest.raises(RuntimeError, match="the caller gives up"):
            caller_that_rolls_back()
        assert not type(context.actor).objects.filter(username="rolled-back").exists()
        if connection.vendor == "sqlite":
            assert not AuditEntry.objects.exists()
            return
        entry = AuditEntry.objects.get()
        assert (entry.action, entry.actor_username, entry.outcome) == ("organization.list", "ed", "ok")


class ContextTests:
    def test_from_request_reads_who_and_where(self, settings, viewer):
        settings.PORTAL_TRUSTED_PROXY_COUNT = 1
        request = RequestFactory().get(
            "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", HTTP_USER_AGENT="U" * 900
        )
        request.user = viewer
        request.request_id = "req-from-middleware"
        context = AuditContext.from_request(request)
        assert (context.actor, context.actor_username) == (viewer, "vera")
        assert (context.client_ip, context.request_id) == ("203.0.113.7", "req-from-middleware")
        assert len(context.user_agent) == 512


class RequestIdTests:
    def test_every_response_carries_a_fresh_request_id(self, client, db):
        first = client.get("/accounts/login/")["X-Request-ID"]
        second = client.get("/accounts/login/", HTTP_X_REQUEST_ID="client-chosen-id")["X-Request-ID"]
        assert len(first) == 32
        assert second not in (first, "client-chosen-id")

    def test_a_trusted_proxys_request_id_is_kept(self, client, settings, db):
        settings.PORTAL_TRUSTED_PROXY_COUNT = 1
        assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="lb-trace-0001")["X-Request-ID"] == "lb-trace-0001"
        assert len(client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id <script>")["X-Request-ID"]) == 32
