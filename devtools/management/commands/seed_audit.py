from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orgadmin.audit_log import append_many
from orgadmin.models import AuditEntry

# How staff use the portal: mostly reads, some edits, few deletes; most calls succeed.
ACTIONS = [
    (AuditEntry.Action.GET, "GET", 45),
    (AuditEntry.Action.LIST, "GET", 30),
    (AuditEntry.Action.UPDATE, "PUT", 12),
    (AuditEntry.Action.CREATE, "POST", 8),
    (AuditEntry.Action.DELETE, "DELETE", 5),
]
OUTCOMES = [("ok", 200, 92), ("rejected", 422, 6), ("failed", 503, 2)]


class Command(BaseCommand):
    help = "Fills the audit log with realistic entries, chained, for benchmarks. Never on a production database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, required=True, help="Entries to add.")
        parser.add_argument("--days", type=int, default=365, help="Spread them over this many days up to now.")
        parser.add_argument("--organizations", type=int, default=2000)
        parser.add_argument("--actors", type=int, default=60)
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=1, help="Random seed, for repeatable data.")

    def handle(self, *args: object, count: int, days: int, organizations: int, actors: int, batch_size: int,
               seed: int, **options: object) -> None:  # fmt: skip
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
            for n in range(made, min(made + batch_size, count)):
                action, method = rng.choice(action_choices)
                outcome, status = rng.choice(outcome_choices)
                org = rng.choice(org_ids)
                batch.append(
                    AuditEntry(
                        created_at=end - step * (count - n),
                        actor_username=rng.choice(actor_names),
                        action=action,
                        method=method,
                        path="/api/organizations"
                        if action in ("organization.list", "organization.create")
                        else f"/api/organizations/{org}",
                        organization_id="" if action == "organization.list" else org,
                        organization_name="" if action == "organization.list" else f"Customer {org[:8]}",
                        request_body={"name": f"Customer {org[:8]}", "client_secret": None}
                        if method in ("POST", "PUT")
                        else None,
                        response_status=status,
                        response_body='{"data":{"id":"%s"}}' % org if outcome == "ok" else '{"message":"seeded"}',  # noqa: UP031
                        outcome=outcome,
                        error_message="" if outcome == "ok" else "seeded failure",
                        duration_ms=int(rng.lognormvariate(4, 0.5)),
                        attempts=1,
                        request_id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                        api_version="2025-09-18",
                        client_ip="10.0.0.1",
                        user_agent="seed_audit",
                    )
                )
            append_many(batch)
            made += len(batch)
        seconds = time.monotonic() - started
        self.stdout.write(f"Added {made} audit entries in {seconds:.1f} s ({made / seconds:,.0f} a second).")
