"""The short tables of recent calls (an organization's page, an onboarding's) read their rows in
one query; they hold exactly what the audit page's first page holds for the same filter."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit import queries, store
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db
ORG = "7a1f0c2e-0000-4000-8000-0000000000aa"
OTHER = "7a1f0c2e-0000-4000-8000-0000000000bb"
START = datetime(2026, 1, 1, tzinfo=UTC)
FLOW = uuid.UUID("0f0f0f0f-0000-4000-8000-000000000001")


class Log:
    """Appends entries as the client does, a second apart: reads, and writes whose outcome is
    recorded, or not (yet)."""

    def __init__(self) -> None:
        self.clock = START

    def _entry(self, about: str, **fields) -> AuditEntry:
        self.clock += timedelta(seconds=1)
        values = {"created_at": self.clock, "actor_username": "ed", "method": "GET", "path": "/api/x",
                  "outcome": "ok", "duration_ms": 1, "action": AuditEntry.Action.GET}  # fmt: skip
        entry = AuditEntry(**{**values, **fields})
        # An onboarding's calls carry its correlation id, attempts and outcomes alike: here, every call about ORG.
        entry.correlation_id = FLOW if about == ORG else None
        store.append(entry)
        return entry

    def read(self, organization_id: str) -> AuditEntry:
        return self._entry(organization_id, organization_id=organization_id, phase=AuditEntry.Phase.CALL)

    def attempt(self, organization_id: str, *, creating: bool = False) -> AuditEntry:
        return self._entry(
            organization_id,
            organization_id="" if creating else organization_id,  # a create's attempt names no organization yet
            action=AuditEntry.Action.CREATE if creating else AuditEntry.Action.UPDATE,
            method="POST" if creating else "PUT",
            outcome=AuditEntry.Outcome.UNKNOWN,
            phase=AuditEntry.Phase.ATTEMPT,
        )

    def outcome(self, attempt: AuditEntry, organization_id: str) -> AuditEntry:
        return self._entry(
            organization_id,
            organization_id=organization_id,
            action=attempt.action,
            method=attempt.method,
            phase=AuditEntry.Phase.OUTCOME,
            attempt_id=attempt.id,
        )


def first_page(size: int, **filters) -> list[int]:
    return [entry.id for entry in queries.audit_page(queries.audit_rows(**filters), size=size).entries]


def latest(size: int, **filters) -> list[int]:
    return [entry.id for entry in queries.latest_rows(size=size, **filters)]


def test_a_write_shows_once_and_one_without_its_outcome_shows_as_unknown():
    log = Log()
    read = log.read(ORG)
    done = log.attempt(ORG)
    outcome = log.outcome(done, ORG)
    hanging = log.attempt(ORG)
    created = log.outcome(log.attempt(ORG, creating=True), ORG)
    log.read(OTHER)
    rows = queries.latest_rows(organization_id=ORG, size=10)
    assert [row.id for row in rows] == [created.id, hanging.id, outcome.id, read.id]
    assert rows[1].outcome == AuditEntry.Outcome.UNKNOWN
    assert latest(2, organization_id=ORG) == [created.id, hanging.id]


@pytest.mark.parametrize("seed", range(12))
def test_the_rows_are_the_audit_pages_first_page_whatever_the_log(seed):
    rng = random.Random(seed)  # noqa: S311 (the shape of a test log, not a secret)
    log = Log()
    in_flight: list[tuple[AuditEntry, str]] = []
    for _ in range(rng.randint(0, 60)):
        organization = rng.choice([ORG, ORG, OTHER])
        roll = rng.random()
        if roll < 0.4:
            log.read(organization)
        elif roll < 0.7:
            in_flight.append((log.attempt(organization, creating=rng.random() < 0.2), organization))
        elif in_flight:  # an outcome arrives, for some write in flight, or never for others
            attempt, organization = in_flight.pop(rng.randrange(len(in_flight)))
            log.outcome(attempt, organization)
    for size in (1, 3, 10):
        assert latest(size, organization_id=ORG) == first_page(size, organization_id=ORG)
        assert latest(size, correlation_id=FLOW) == first_page(size, correlation_id=FLOW)
