"""`/metrics`: who may read it, and that its figures are the calls, appends and refusals made, and
the state of the database, counted with real calls against the sandbox."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.models import AuditEntry
from audit.store import append
from devtools.sandbox import ACME_ID
from devtools.support import hidden_field
from orgadmin.models import ChangeRequest
from tests.factories import make_user
from tests.support import audit_refuses_inserts, chain_held

TOKEN = "metrics-token-0123456789abcdef"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def calls(samples: dict, action: str, outcome: str) -> float:
    return value(samples, "portal_polytomic_calls_total", action=action, outcome=outcome)


def add_attempt(minutes_ago: float) -> AuditEntry:
    """A write's attempt, sent `minutes_ago`, with no outcome recorded."""
    attempt = AuditEntry(actor_username="ed", action="organization.update", method="PUT", path="/api/x",
                         outcome="unknown", phase="attempt", duration_ms=0, attempts=0,
                         created_at=timezone.now() - timedelta(minutes=minutes_ago))  # fmt: skip
    append(attempt)
    return attempt


@pytest.fixture
def readable(settings):
    settings.PORTAL_METRICS_NETWORKS = LOOPBACK


@pytest.mark.django_db
class AccessTests:
    def test_nobody_reads_it_unless_the_settings_name_them(self, client):
        assert client.get("/metrics").status_code == 403

    def test_from_a_network_named(self, client, settings):
        settings.PORTAL_METRICS_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
        assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        # A forwarded header counts for nothing: the connection's own address does.
        assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403

    def test_with_the_token(self, client, settings):
        settings.PORTAL_METRICS_TOKEN = TOKEN
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 403

    def test_answered_by_address_over_plain_http_and_to_reads_only(self, client, settings, readable):
        settings.SECURE_SSL_REDIRECT = True
        assert client.get("/metrics", HTTP_HOST="10.20.30.40:8000").status_code == 200
        refused = client.post("/metrics")
        assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD")

    def test_reads_a_fixed_number_of_queries(self, client, readable, django_assert_num_queries):
        with django_assert_num_queries(2) as few:  # the unknown writes; the change requests
            scrape(client)
        requester = make_user("ed", role="Editor")
        for n in range(20):
            add_attempt(n + 1)
            ChangeRequest.objects.create(organization_id=ACME_ID, organization_name=f"Org {n}", kind="delete",
                                         organization_state={}, reason="r", requested_by=requester,
                                         expires_at=timezone.now() + timedelta(hours=1))  # fmt: skip
        with django_assert_num_queries(len(few.captured_queries)):
            scrape(client)


@pytest.mark.django_db
class CountedTests:
    def test_calls_to_polytomic_by_action_and_outcome(self, client, admin_user, sandbox, readable):
        client.force_login(admin_user)
        before = scrape(client)
        client.get(reverse("orgadmin:organization-list"))
        client.get(reverse("orgadmin:organization-list"))
        sandbox.sandbox.faults.queue.append({"method": "GET", "path": "/api/organizations", "fault": "status:500"})
        client.get(reverse("orgadmin:organization-list"))
        page = client.get(reverse("orgadmin:organization-create")).content.decode()
        typed = {"name": "Counted Co", "sso_domain": "counted.example", "form_key": hidden_field(page, "form_key")}
        client.post(reverse("orgadmin:organization-create"), typed)
        after = scrape(client)
        assert calls(after, "organization.list", "ok") - calls(before, "organization.list", "ok") == 2
        assert calls(after, "organization.list", "failed") - calls(before, "organization.list", "failed") == 1
        # A write is one call (its outcome), not two: its attempt is no call.
        assert calls(after, "organization.create", "ok") - calls(before, "organization.create", "ok") == 1
        assert calls(after, "organization.create", "unknown") == calls(before, "organization.create", "unknown")
        # Every entry written was one append, timed: 3 reads, the create's attempt and outcome.
        appends = value(after, "portal_audit_append_seconds_count") - value(before, "portal_audit_append_seconds_count")
        assert appends == AuditEntry.objects.count() == 5
        assert value(after, "portal_audit_appends_refused_total", reason="refused") == value(
            before, "portal_audit_appends_refused_total", reason="refused"
        )

    def test_appends_refused(self, client, admin_user, sandbox, readable):
        client.force_login(admin_user)
        before = scrape(client)
        with audit_refuses_inserts():
            client.get(reverse("orgadmin:organization-list"))
        after = scrape(client)
        refused = "portal_audit_appends_refused_total"
        assert value(after, refused, reason="refused") - value(before, refused, reason="refused") == 1
        assert value(after, refused, reason="lock_timeout") == value(before, refused, reason="lock_timeout")
        # The read went out, its entry refused: no call counted that the log does not hold.
        assert calls(after, "organization.list", "ok") == calls(before, "organization.list", "ok")

    def test_the_unknown_writes_of_the_last_day(self, client, settings, readable):
        settings.POLYTOMIC_TOTAL_TIMEOUT = 20
        # In flight; lost; answered; lost; lost more than a day ago.
        _, _, answered, _, _ = [add_attempt(minutes) for minutes in (0, 5, 30, 60, 60 * 30)]
        append(AuditEntry(actor_username="ed", action="organization.update", method="PUT", path="/api/x",
                          outcome="ok", phase="outcome", attempt_id=answered.id, duration_ms=3))  # fmt: skip
        assert value(scrape(client), "portal_audit_unknown_attempts") == 2

    def test_change_requests_waiting_past_their_deadline_and_unknown(self, client, readable):
        requester, decider = make_user("ed", role="Editor"), make_user("ada", role="Admin")
        now = timezone.now()
        for status, fields in [
            ("pending", {"expires_at": now + timedelta(hours=1)}),
            ("pending", {"expires_at": now + timedelta(hours=2)}),
            ("pending", {"expires_at": now - timedelta(minutes=1)}),  # past its time: expired, not waiting
            ("executing", {"send_deadline": now - timedelta(seconds=1), "decided_by": decider}),
            ("executing", {"send_deadline": now + timedelta(seconds=30), "decided_by": decider}),  # being sent
            ("unknown", {"decided_by": decider}),
            ("executed", {"decided_by": decider}),
        ]:
            ChangeRequest.objects.create(
                organization_id=ACME_ID, organization_name="Acme", kind="delete", organization_state={}, reason="r",
                requested_by=requester, status=status, **{"expires_at": now + timedelta(hours=1), **fields},
            )  # fmt: skip
        samples = scrape(client)
        assert [value(samples, "portal_change_requests", state=state) for state in
                ("waiting", "past_deadline", "outcome_unknown")] == [2, 1, 1]  # fmt: skip


@pytest.mark.django_db(transaction=True)
class LockTimeoutCountedTests:
    def test_an_append_that_timed_out_waiting_for_the_lock(self, client, settings, sandbox, readable):
        settings.AUDIT_LOCK_TIMEOUT = 0.3
        client.force_login(make_user("ada", role="Admin"))
        before = scrape(client)
        with chain_held(seconds=2):  # past the append's 0.3 s; on SQLite the page's other writes wait for it
            client.get(reverse("orgadmin:organization-list"))
        after = scrape(client)
        refused = "portal_audit_appends_refused_total"
        assert value(after, refused, reason="lock_timeout") - value(before, refused, reason="lock_timeout") == 1
