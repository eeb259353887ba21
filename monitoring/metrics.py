"""The portal's metrics, and how each is counted.

Two kinds, chosen by where the truth lives (README, "Monitoring"):

- **Events counted as they happen**, in the worker that saw them: Polytomic calls by action and
  outcome, audit appends (their time, and those refused or timed out waiting for the chain's
  lock). A refusal never reaches the database, so only the process that met it can count it.
  gunicorn runs several worker processes, each with its own memory: with
  `PROMETHEUS_MULTIPROC_DIR` set (deploy/gunicorn.conf.py sets it), prometheus_client keeps each
  process's values in a file there and a scrape adds them up, so any worker answers for all. Each
  instance is scraped on its own; Prometheus sums instances.
- **State read from the database at scrape time**, the same on every instance (take `max`, not
  `sum`, across instances): the writes whose outcome is unknown (of the last day: an indexed,
  bounded count) and the change requests waiting, being sent past their deadline, or with their
  outcome unknown (a small table).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from audit.models import AuditEntry
from audit.queries import unresolved_attempts
from orgadmin.models import ChangeRequest

POLYTOMIC_CALLS = Counter(
    "portal_polytomic_calls", "Calls to Polytomic, as recorded in the audit log", ["action", "outcome"]
)
AUDIT_APPEND_SECONDS = Histogram(
    "portal_audit_append_seconds",
    "Time to append an entry to the audit chain (lock, read, insert, commit), failed appends included",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AUDIT_APPENDS_REFUSED = Counter(
    "portal_audit_appends_refused",
    "Audit appends that failed: lock_timeout (the chain's lock not had within AUDIT_LOCK_TIMEOUT) or refused "
    "(any other failure of the store)",
    ["reason"],
)
# How far back the unknown writes are counted at each scrape: verify_audit lists them all.
UNKNOWN_WINDOW = timedelta(days=1)


def count_append(*, seconds: float, failure: str | None, **kwargs: Any) -> None:
    """`audit.store.appended`: one append, and how it ended."""
    AUDIT_APPEND_SECONDS.observe(seconds)
    if failure is not None:
        AUDIT_APPENDS_REFUSED.labels(reason=failure).inc()


def count_call(*, entry: AuditEntry, **kwargs: Any) -> None:
    """`audit.protocol.recorded`: a call to Polytomic is one entry of a read or a write's outcome,
    on an API path (the portal's own steps, the issuer check and a write's attempt are not calls)."""
    if entry.phase != AuditEntry.Phase.ATTEMPT and entry.path.startswith("/api/"):
        POLYTOMIC_CALLS.labels(action=entry.action, outcome=entry.outcome).inc()


class DatabaseState(Collector):
    """The gauges read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        unknown = unresolved_attempts(older_than_seconds=settings.POLYTOMIC_TOTAL_TIMEOUT).filter(
            created_at__gte=now - UNKNOWN_WINDOW
        )
        yield GaugeMetricFamily(
            "portal_audit_unknown_attempts",
            "Writes of the last day whose attempt is recorded and whose outcome is not, older than a call may take",
            value=unknown.count(),
        )
        status = ChangeRequest.Status
        counts = ChangeRequest.objects.aggregate(
            waiting=Count("id", filter=Q(status=status.PENDING, expires_at__gt=now)),
            past_deadline=Count("id", filter=Q(status=status.EXECUTING, send_deadline__lt=now)),
            outcome_unknown=Count("id", filter=Q(status=status.UNKNOWN)),
        )
        requests = GaugeMetricFamily(
            "portal_change_requests",
            "Change requests waiting for approval, being sent past their deadline (the sender gone), or sent "
            "with their outcome unknown",
            labels=["state"],
        )
        for state, count in counts.items():
            requests.add_metric([state], count)
        yield requests


def exposition() -> bytes:
    """Every metric in Prometheus' text format: the events of all of this instance's processes
    (or of this process alone, without PROMETHEUS_MULTIPROC_DIR), then the database's state."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (POLYTOMIC_CALLS, AUDIT_APPEND_SECONDS, AUDIT_APPENDS_REFUSED):
            registry.register(metric)
    registry.register(DatabaseState())
    return generate_latest(registry)
