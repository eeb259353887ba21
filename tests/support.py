"""Helpers the test modules share (none imports another)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import struct
import time
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

BASE_DIR = Path(__file__).resolve().parent.parent


def production_env(**variables: str) -> dict[str, str]:
    """The environment of a fresh portal process with DEBUG off: only PATH, the settings module,
    throwaway values of the secrets that production requires, and `variables`."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "subprocess-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "POLYTOMIC_PARTNER_API_KEY": "subprocess-test-partner-key",
        "AUDIT_CHAIN_KEY": "subprocess-test-audit-chain-key",
        **variables,
    }


def named_url_patterns(patterns=None, namespace: str = ""):
    """(name, pattern) for every named URL pattern of the project, namespaces included."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_url_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", entry


# What a write's attempt carries, as its outcome does.
ATTEMPT_CARRIES = ("actor_username", "action", "method", "path", "idempotency_key", "request_id", "client_ip")


def call_entries(**filters) -> list:
    """The audit entries of finished calls matching `filters`, oldest first, one per call: a read's
    entry, and a write's outcome, whose attempt is checked to stand before it in the log, for the
    same call. An attempt with no outcome fails the check: none is expected where this is used."""
    from orgadmin.models import AuditEntry

    entries = list(AuditEntry.objects.filter(**filters).order_by("id"))
    outcomes = [entry for entry in entries if entry.phase == "outcome"]
    attempts = AuditEntry.objects.in_bulk([entry.attempt_id for entry in outcomes])
    for entry in entries:
        if entry.phase == "attempt":
            assert AuditEntry.objects.filter(attempt_id=entry.id).exists(), f"the attempt {entry.id} has no outcome"
            assert (entry.outcome, entry.response_status, entry.response_body, entry.attempts) == (
                "unknown",
                None,
                "",
                0,
            )
        else:
            assert entry.phase == "outcome" or entry.method == "GET" or entry.action.startswith("audit."), entry
    for outcome in outcomes:
        attempt = attempts.get(outcome.attempt_id)
        assert attempt is not None, f"the outcome {outcome.id} names no entry"
        assert (attempt.phase, attempt.id < outcome.id) == ("attempt", True), outcome
        assert [getattr(attempt, name) for name in ATTEMPT_CARRIES] == [
            getattr(outcome, name) for name in ATTEMPT_CARRIES
        ]
        assert outcome.request_body is None  # what was sent is on the attempt
    return [entry for entry in entries if entry.phase != "attempt"]


def only_call_entry(**filters):
    """The one finished call in the log (see `call_entries`)."""
    calls = call_entries(**filters)
    assert len(calls) == 1, calls
    return calls[0]


def attempt_of(outcome):
    """A write's attempt entry, from its outcome entry."""
    from orgadmin.models import AuditEntry

    return AuditEntry.objects.get(pk=outcome.attempt_id, phase="attempt")


@contextlib.contextmanager
def guard_lifted(using: str = "default"):
    """The audit table's database guard (migration 0009) out of the way, as whoever owns the
    table or the database file can put it: the hash chain must still tell what they did."""
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE orgadmin_auditentry DISABLE TRIGGER orgadmin_audit_append_only")
            try:
                yield
            finally:
                cursor.execute("ALTER TABLE orgadmin_auditentry ENABLE TRIGGER orgadmin_audit_append_only")
            return
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orgadmin_auditentry'")
        triggers = [sql for (sql,) in cursor.fetchall()]
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'orgadmin_auditentry'")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for sql in triggers:
                cursor.execute(sql)


@contextlib.contextmanager
def audit_refuses_inserts(phase: str = "", action: str | tuple[str, ...] = ""):
    """The audit table refuses new entries (of one phase, or of one or more actions, only when
    given), until the block ends. The trigger is the test's own, dropped afterwards."""
    actions = ", ".join(f"'{name}'" for name in ((action,) if isinstance(action, str) else action))
    when = f"NEW.phase = '{phase}'" if phase else f"NEW.action IN ({actions})" if action else "TRUE"
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse_audit_inserts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit_inserts BEFORE INSERT ON orgadmin_auditentry FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION test_refuse_audit_inserts()"
            )
            drop = [
                "DROP TRIGGER test_refuse_audit_inserts ON orgadmin_auditentry",
                "DROP FUNCTION test_refuse_audit_inserts()",
            ]
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit_inserts BEFORE INSERT ON orgadmin_auditentry "
                f"WHEN {when.replace('TRUE', '1')} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
            drop = ["DROP TRIGGER test_refuse_audit_inserts"]
        try:
            yield
        finally:
            for statement in drop:
                cursor.execute(statement)


def totp(secret: str, at: float | None = None) -> str:
    """The six-digit code of RFC 6238 (SHA-1, 30-second steps) for a base32 secret."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int((time.time() if at is None else at) // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"
