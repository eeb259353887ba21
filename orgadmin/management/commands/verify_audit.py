from __future__ import annotations

import logging
import re
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orgadmin.audit_log import verify_chain
from orgadmin.models import AuditEntry

# Where the head of each verified chain goes: the application log, which the log pipeline ships
# off the machine, so that a later run can be held to it (--anchor).
logger = logging.getLogger("orgadmin.audit")

ANCHOR = re.compile(r"(?P<id>[0-9]{1,19}):(?P<hash>[0-9a-f]{64})")


class Command(BaseCommand):
    help = (
        "Checks the audit log's hash chain and prints its head; exits non-zero at the first entry changed or "
        "removed, or when the entry named by --anchor is no longer in the chain as it was."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            metavar="ID:HASH",
            help="A head printed by an earlier run (kept outside the database): fails unless that entry is "
            "still in the log with that hash, so entries removed from the end since then are found too.",
        )

    def handle(self, *args: object, anchor: str | None, **options: object) -> None:
        expected = ANCHOR.fullmatch(anchor or "") if anchor is not None else None
        if anchor is not None and expected is None:
            raise CommandError("--anchor takes ID:HASH as a previous run printed it, e.g. 1234:3f2a…")
        started = time.monotonic()
        checked, broken = verify_chain()
        seconds = time.monotonic() - started
        if broken is not None:
            raise CommandError(
                f"Audit log chain broken at entry {broken.entry_id}: {broken.reason} "
                f"({checked} entries before it verified)."
            )
        if expected is not None:
            self._check_anchor(int(expected["id"]), expected["hash"])
        head = AuditEntry.objects.order_by("-id").values_list("id", "entry_hash").first()
        self.stdout.write(f"Audit log verified: {checked} entries, chain intact ({seconds:.1f} s).")
        if head is not None:
            self.stdout.write(f"Head: {head[0]}:{head[1]}")
            logger.info("Audit log head %s:%s after verifying %s entries", head[0], head[1], checked)

    def _check_anchor(self, entry_id: int, entry_hash: str) -> None:
        if AuditEntry.objects.filter(id=entry_id, entry_hash=entry_hash).exists():
            return
        oldest = AuditEntry.objects.order_by("id").values_list("id", flat=True).first()
        if oldest is not None and entry_id < oldest:
            self.stdout.write(f"The anchor {entry_id} is older than the oldest entry kept: pruned since.")
            return
        raise CommandError(
            f"The anchor entry {entry_id} is no longer in the audit log with that hash: entries were removed "
            "from its end, or the log was replaced, since the anchor was taken."
        )
