from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from orgadmin.audit import append
from orgadmin.models import AuditEntry


class Command(BaseCommand):
    help = (
        "Deletes audit entries older than a number of days, oldest first in batches, and records its "
        "own run in the audit log. The only way audit entries are deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="Age in days to keep.")
        parser.add_argument("--dry-run", action="store_true", help="Say what would be deleted; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Entries deleted per statement.")

    def handle(self, *args: object, older_than: int, dry_run: bool, batch_size: int, **options: object) -> None:
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        started = time.monotonic()
        cutoff = timezone.now() - timedelta(days=older_than)
        # Only a contiguous oldest prefix of the chain goes, so what stays still verifies.
        first_kept = AuditEntry.objects.filter(created_at__gte=cutoff).order_by("id").values_list("id", flat=True)
        first_kept_id = first_kept.first()
        doomed = AuditEntry.objects.all()
        doomed = doomed.filter(id__lt=first_kept_id) if first_kept_id is not None else doomed
        boundary = doomed.order_by("-id").values("id", "entry_hash").first()
        total = deleted = batches = 0
        if boundary is not None:
            total = AuditEntry.objects.filter(id__lte=boundary["id"]).count()
        if not dry_run and boundary is not None:
            while True:
                ids = list(
                    AuditEntry.objects.filter(id__lte=boundary["id"])
                    .order_by("id")
                    .values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    break
                # The queryset's delete() refuses, as the log is append-only: this is the one exception.
                deleted += AuditEntry.objects.filter(id__in=ids)._raw_delete(AuditEntry.objects.db)
                batches += 1
        verb = "Would delete" if dry_run else "Deleted"
        count = total if dry_run else deleted
        self.stdout.write(
            f"{verb} {count} audit entries older than {cutoff:%Y-%m-%d %H:%M} UTC"
            + (f" in {batches} batches" if batches else "")
            + "."
        )
        append(
            AuditEntry(
                actor_username="system:prune_audit",
                action=AuditEntry.Action.PRUNE,
                method="",
                path="",
                request_body={
                    "older_than_days": older_than,
                    "cutoff": cutoff.isoformat(),
                    "dry_run": dry_run,
                    "deleted": count if not dry_run else 0,
                    "would_delete": count if dry_run else None,
                    "last_pruned_hash": boundary["entry_hash"] if boundary and not dry_run else None,
                    "last_pruned_id": boundary["id"] if boundary and not dry_run else None,
                },
                outcome=AuditEntry.Outcome.OK,
                duration_ms=round((time.monotonic() - started) * 1000),
            )
        )
