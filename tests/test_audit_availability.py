"""Nothing waits forever on the audit store: an append waits for the chain's lock at most
AUDIT_LOCK_TIMEOUT, then the page says the audit log is unavailable, and /healthz answers 503 while
an append would wait that long. After the store refuses an entry, no read of Polytomic's leaves
(but the one that found out) until it takes entries again.

The lock is held by another database session, as a stuck append or a long transaction holds it:
on PostgreSQL the chain's advisory lock, on SQLite the one write lock.
"""

from __future__ import annotations

import time
from uuid import UUID

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.urls import reverse

from audit.models import AuditEntry
from audit.protocol import STORE_REFUSED_KEY, AuditContext, AuditUnavailable
from audit.store import append, can_append, is_lock_timeout
from devtools.sandbox import ACME_ID
from devtools.support import free_port
from orgadmin.polytomic.client import client as polytomic
from tests.factories import make_user
from tests.support import audit_refuses_inserts, chain_held

UNAVAILABLE = "The audit log is unavailable"


def timed(call, *args):
    started = time.monotonic()
    result = call(*args)
    return result, time.monotonic() - started


@pytest.mark.django_db(transaction=True)
class LockTimeoutTests:
    def test_a_page_says_the_log_is_unavailable_within_the_timeout(self, client, settings, sandbox):
        settings.AUDIT_LOCK_TIMEOUT = 0.5
        client.force_login(make_user("ada", role="Admin"))
        # On SQLite the page's other writes wait for the one write lock: held 2 s there (past the
        # append's 0.5 s), not the 20 s of the stuck append that PostgreSQL's case stands for.
        with chain_held(seconds=20 if connection.vendor == "postgresql" else 2):
            page, seconds = timed(client.get, reverse("orgadmin:organization-list"))
        assert page.status_code == 200
        assert UNAVAILABLE in page.content.decode()
        assert not AuditEntry.objects.filter(action="organization.list").exists()
        if connection.vendor == "postgresql":
            # The timeout and the page's own time, not the 20 s the lock is held. On SQLite, where
            # the lock held is the one write lock, the page's other writes (the shared cache's
            # note of the refusal) wait the database's busy timeout: the append alone is bounded.
            assert seconds < 5, seconds

    def test_an_append_gives_up_after_the_timeout(self, settings):
        settings.AUDIT_LOCK_TIMEOUT = 0.5
        entry = AuditEntry(actor_username="ed", action="organization.list", method="GET", path="/api/organizations",
                           outcome="ok", duration_ms=1)  # fmt: skip
        with chain_held():
            started = time.monotonic()
            with pytest.raises(DatabaseError) as refused:
                append(entry)
            seconds = time.monotonic() - started
        assert is_lock_timeout(refused.value)
        assert seconds < 3, seconds
        assert not AuditEntry.objects.exists()
        append(entry)  # the lock let go: appended as ever
        assert AuditEntry.objects.get().entry_hash == entry.entry_hash

    def test_healthz_answers_503_while_an_append_would_wait(self, client, settings):
        settings.AUDIT_LOCK_TIMEOUT = 0.5
        assert client.get("/healthz").status_code == 200
        with chain_held():
            answer, seconds = timed(client.get, "/healthz")
        assert (answer.status_code, answer.json()) == (
            503,
            {"status": "unavailable", "database": "ok", "audit_log": "unavailable"},
        )
        assert answer["Cache-Control"] == "no-store"
        assert seconds < 5, seconds
        assert client.get("/healthz").status_code == 200  # the lock let go: back in
        assert not AuditEntry.objects.exists()  # the probe writes nothing

    def test_the_probe_waits_its_own_timeout(self):
        with chain_held():
            free, seconds = timed(lambda: can_append(timeout=0.2))
        assert (free, seconds < 3) == (False, True)
        assert can_append(timeout=0.2)


def reads_sent(sandbox) -> int:
    return sum(1 for r in sandbox.sandbox.received if (r["method"], r["path"]) == ("GET", "/api/organizations"))


@pytest.mark.django_db
class ReadsWhileRefusedTests:
    def test_no_read_leaves_after_a_refusal_until_the_log_takes_entries_again(self, client, admin_user, sandbox):
        client.force_login(admin_user)
        listing = reverse("orgadmin:organization-list")
        with audit_refuses_inserts():
            for _ in range(3):
                page = client.get(listing)
                assert UNAVAILABLE in page.content.decode()
            assert reads_sent(sandbox) == 1  # the read that found out, and no other
            # Noted where every worker of every instance looks before a read.
            assert cache.get(STORE_REFUSED_KEY) is True
        page = client.get(listing)
        assert "Acme Corporation" in page.content.decode()
        assert reads_sent(sandbox) == 2
        assert cache.get(STORE_REFUSED_KEY) is None  # taken again: the next reads probe nothing
        assert AuditEntry.objects.filter(action="organization.list").count() == 1  # the probes kept nothing

    def test_a_refused_write_stops_the_reads_too(self, sandbox):
        context = AuditContext(actor=None, actor_label="test")
        with audit_refuses_inserts(phase="attempt"), pytest.raises(AuditUnavailable):
            polytomic().delete_organization(UUID(ACME_ID), context=context)
        assert cache.get(STORE_REFUSED_KEY) is True
        with audit_refuses_inserts(), pytest.raises(AuditUnavailable):
            polytomic().list_organizations(context=context)
        assert reads_sent(sandbox) == 0
        polytomic().list_organizations(context=context)  # the store takes entries again: the read goes
        assert reads_sent(sandbox) == 1
        assert cache.get(STORE_REFUSED_KEY) is None

    def test_with_the_shared_cache_down_each_read_asks_the_store_itself(self, settings, sandbox):
        nothing_listens = f"redis://127.0.0.1:{free_port()}/3"
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": nothing_listens}}  # fmt: skip
        context = AuditContext(actor=None, actor_label="test")
        with audit_refuses_inserts(), pytest.raises(AuditUnavailable):  # the refusal, not noted, still the log's
            polytomic().delete_organization(UUID(ACME_ID), context=context)
        with audit_refuses_inserts(), pytest.raises(AuditUnavailable):
            polytomic().list_organizations(context=context)
        assert reads_sent(sandbox) == 0  # the probe found the store refusing: not even one read
        polytomic().list_organizations(context=context)
        assert reads_sent(sandbox) == 1


@pytest.mark.django_db
class CallersWaitTests:
    def test_an_append_puts_the_connections_own_wait_back(self):
        """The timeout is the append's alone: inside a caller's transaction (as the change requests'
        steps write theirs), the caller's own lock_timeout (or SQLite's busy timeout) stands after it."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL lock_timeout = '7s'")
            append(AuditEntry(actor_username="ed", action="organization.list", method="GET", path="/api/x",
                              outcome="ok", duration_ms=1))  # fmt: skip
            cursor.execute("SHOW lock_timeout" if connection.vendor == "postgresql" else "PRAGMA busy_timeout")
            assert cursor.fetchone()[0] in ("7s", 10_000)
