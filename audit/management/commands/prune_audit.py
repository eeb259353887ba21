from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.retention import prune


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
        pruned = prune(older_than_days=older_than, dry_run=dry_run, batch_size=batch_size)
        self.stdout.write(
            f"{'Would delete' if dry_run else 'Deleted'} {pruned.count} audit entries older than "
            f"{pruned.cutoff:%Y-%m-%d %H:%M} UTC" + (f" in {pruned.batches} batches" if pruned.batches else "") + "."
        )
