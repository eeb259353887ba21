"""Retention: the one deletion of audit entries there is, of a contiguous oldest prefix of the chain,
recorded in the chain with the hash of the last entry removed so that what stays verifies."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from django.utils import timezone

from audit.guard import deleting
from audit.models import AuditEntry
from audit.store import append

# --- Retention ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime
    count: int  # deleted, or that would be on a dry run
    batches: int


def prune(*, older_than_days: int, dry_run: bool = False, batch_size: int = 5000) -> Pruned:
    """Deletes the entries older than `older_than_days`, oldest first in batches, and records the
    run in the chain with the hash of the last entry it removed, so that what stays verifies.

    Only a contiguous oldest prefix of the chain goes: the first entry newer than the cutoff, and
    everything after it, stays. The only deletion of entries there is: one transaction, through
    `deleting`, in which the record is appended too.
    """
    started = time.monotonic()
    cutoff = timezone.now() - timedelta(days=older_than_days)
    first_kept_id = (
        AuditEntry.objects.filter(created_at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    )
    doomed = AuditEntry.objects.all()
    doomed = doomed.filter(id__lt=first_kept_id) if first_kept_id is not None else doomed
    boundary = doomed.order_by("-id").values("id", "entry_hash").first()
    total = deleted = batches = 0
    if boundary is not None:
        total = AuditEntry.objects.filter(id__lte=boundary["id"]).count()
    with deleting() if not dry_run else contextlib.nullcontext():
        # One transaction: the deletions and their record in the chain commit together, or neither.
        if not dry_run and boundary is not None:
            while ids := list(
                AuditEntry.objects.filter(id__lte=boundary["id"])
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            ):
                # The model's queryset refuses delete(), as the log is append-only: this is the one
                # exception, through Django's own QuerySet.delete() (nothing refers to an entry, so
                # it is one DELETE statement per batch).
                deleted += QuerySet.delete(AuditEntry.objects.filter(id__in=ids))[0]
                batches += 1
        count = total if dry_run else deleted
        append(
            AuditEntry(
                actor_username="system:prune_audit",
                action=AuditEntry.Action.PRUNE,
                method="",
                path="",
                request_body={
                    "older_than_days": older_than_days,
                    "cutoff": cutoff.isoformat(),
                    "dry_run": dry_run,
                    "deleted": 0 if dry_run else count,
                    "would_delete": count if dry_run else None,
                    "last_pruned_hash": boundary["entry_hash"] if boundary and not dry_run else None,
                    "last_pruned_id": boundary["id"] if boundary and not dry_run else None,
                },
                outcome=AuditEntry.Outcome.OK,
                duration_ms=round((time.monotonic() - started) * 1000),
            ),
            using=DEFAULT_DB_ALIAS,
        )
    return Pruned(cutoff=cutoff, count=count, batches=batches)
