from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from audit.store import append_many

# How staff use the portal: mostly reads, some edits, few deletes; most calls succeed.
ACTIONS = [
    (AuditEntry.Action.GET, "GET", 45),
    (AuditEntry.Action.LIST, "GET", 30),
    (AuditEntry.Action.UPDATE, "PUT", 12),
    (AuditEntry.Action.CREATE, "POST", 8),
    (AuditEntry.Action.DELETE, "DELETE", 5),
]
OUTCOMES = [("ok", 200, 92), ("rejected", 422, 6), ("failed", 503, 2)]


@contextlib.contextmanager
def unstreamed() -> Iterator[None]:
    """Seeded entries are test data: they are not streamed (a million lines would flood the terminal)."""
    stream = logging.getLogger("orgadmin.audit.stream")
    was, stream.disabled = stream.disabled, True
    try:
        yield
    finally:
        stream.disabled = was


def attempt_of(entry: AuditEntry, *, idempotency_key: str) -> AuditEntry:
    """The attempt entry of a write, as recorded before it was sent."""
    return AuditEntry(
        created_at=entry.created_at, phase=AuditEntry.Phase.ATTEMPT, actor_username=entry.actor_username,
        action=entry.action, method=entry.method, path=entry.path,
        organization_id="" if entry.method == "POST" else entry.organization_id,  # a create's is not known yet
        organization_name=entry.organization_name,
        request_body={"name": entry.organization_name, "client_secret": None},
        outcome=AuditEntry.Outcome.UNKNOWN, duration_ms=0, attempts=0, idempotency_key=idempotency_key,
        request_id=entry.request_id, client_ip=entry.client_ip, user_agent=entry.user_agent,
    )  # fmt: skip


def analyze_after_bulk_load() -> None:
    """Gives PostgreSQL's planner the statistics of the log just seeded. A live log grows a row at a
    time and autovacuum analyzes it as it grows; a log seeded in seconds would be planned as the
    empty table it was, and its filtered pages sorted whole instead of read from their index
    (https://www.postgresql.org/docs/current/populate.html#POPULATE-ANALYZE). SQLite gathers no
    statistics unless asked, in use as here, so it is left as it is."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {AuditEntry._meta.db_table}")


class Command(BaseCommand):
    help = (
        "Fills the audit log with about COUNT realistic entries, chained (a write is two: its attempt and its "
        "outcome), for benchmarks. Never on a production database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="Entries to add.")
        parser.add_argument("--days", type=int, default=365, help="Spread them over this many days up to now.")
        parser.add_argument("--organizations", type=int, default=2000)
        parser.add_argument("--actors", type=int, default=60)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=1, help="Random seed, for repeatable data.")
        parser.add_argument(
            "--unresolved", type=int, default=0, help="Leave the writes among the first N entries with no outcome."
        )

    def handle(self, *args: object, count: int, days: int, organizations: int, actors: int, batch_size: int,
               seed: int, unresolved: int, **options: object) -> None:  # fmt: skip
        if count < 1:
            raise CommandError("--count must be at least 1.")
        rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
        org_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(organizations)]
        actor_names = [f"staff{n:03d}" for n in range(actors)]
        action_choices = [(a, m) for a, m, w in ACTIONS for _ in range(w)]
        outcome_choices = [(o, s) for o, s, w in OUTCOMES for _ in range(w)]
        end = timezone.now()
        step = timedelta(days=days) / count
        started = time.monotonic()
        made = 0
        while made < count:
            batch = []
            while len(batch) < batch_size and made + len(batch) < count:
                n = made + len(batch)
                action, method = rng.choice(action_choices)
                if method != "GET" and n + 2 > count:  # no room left for a write's two entries
                    action, method = AuditEntry.Action.LIST, "GET"
                outcome, status = rng.choice(outcome_choices)
                org = rng.choice(org_ids)
                duration_ms = int(rng.lognormvariate(4, 0.5))
                entry = AuditEntry(
                    created_at=end - step * (count - n),
                    actor_username=rng.choice(actor_names),
                    action=action,
                    method=method,
                    path="/api/organizations"
                    if action in ("organization.list", "organization.create")
                    else f"/api/organizations/{org}",
                    organization_id="" if action == "organization.list" else org,
                    organization_name="" if action == "organization.list" else f"Customer {org[:8]}",
                    response_status=status,
                    response_body='{"data":{"id":"%s"}}' % org if outcome == "ok" else '{"message":"seeded"}',  # noqa: UP031
                    outcome=outcome,
                    error_message="" if outcome == "ok" else "seeded failure",
                    duration_ms=duration_ms,
                    attempts=1,
                    request_id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                    api_version="2025-09-18",
                    client_ip="10.0.0.1",
                    user_agent="seed_audit",
                )
                if method != "GET":  # a write, as the portal records it: its attempt, then its outcome
                    batch.append(attempt_of(entry, idempotency_key=uuid.UUID(int=rng.getrandbits(128), version=4).hex))
                    if n >= unresolved:
                        entry.phase, entry.attempt = AuditEntry.Phase.OUTCOME, batch[-1]
                        entry.idempotency_key = batch[-1].idempotency_key
                        entry.created_at += timedelta(milliseconds=duration_ms)
                        batch.append(entry)
                else:
                    batch.append(entry)
            with unstreamed():
                append_many(batch)
            made += len(batch)
        analyze_after_bulk_load()
        seconds = time.monotonic() - started
        self.stdout.write(f"Added {made} audit entries in {seconds:.1f} s ({made / seconds:,.0f} a second).")
