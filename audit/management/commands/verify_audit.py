from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import protocol as audit_protocol
from audit import queries
from audit.guard import guard_in_place
from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from audit.store import entry_hash
from audit.verification import verified, walk_chain

# Where the head of each verified chain goes: the application log, which the log pipeline ships
# off the machine, so that a later run can be held to it (--anchor).
logger = logging.getLogger("orgadmin.audit")
security_log = logging.getLogger("orgadmin.security")

ANCHOR = re.compile(r"(?P<id>[0-9]{1,19}):(?P<hash>[0-9a-f]{64})")
CHECKPOINT_ID = re.compile(r"[0-9]{1,19}")
CHECKPOINT_ACTOR = "system:verify_audit"
UNRESOLVED_LISTED = 100


class Command(BaseCommand):
    help = (
        "Checks the audit log's hash chain, records the hash it reached as a checkpoint entry, prints the head "
        "and keeps it outside the database (AUDIT_ANCHOR_FILE); exits non-zero at the first entry changed or "
        "removed, or when the head the last run kept (or --anchor's) is no longer in the chain as it was. Lists "
        "the writes whose outcome is unknown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            metavar="ID:HASH",
            help="A head printed by an earlier run, instead of the one kept in AUDIT_ANCHOR_FILE: fails unless "
            "that entry is still in the log with that hash, so entries removed from the end since then are found too.",
        )
        parser.add_argument(
            "--since",
            metavar="CHECKPOINT",
            help="Walk only the entries after a checkpoint an earlier run recorded: 'latest', or the "
            "checkpoint entry's id. Without it, the whole chain is walked.",
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="Record no checkpoint and keep no head (for a read-only copy of the database).",
        )

    def handle(self, *args: object, anchor: str | None, since: str | None, no_checkpoint: bool,
               **options: object) -> None:  # fmt: skip
        kept = Path(settings.AUDIT_ANCHOR_FILE)
        if anchor is not None:
            expected = ANCHOR.fullmatch(anchor)
            if expected is None:
                raise CommandError("--anchor takes ID:HASH as a previous run printed it, e.g. 1234:3f2a…")
        else:
            expected = self._kept_anchor(kept)
        after = self._checkpoint(since) if since is not None else None
        started = time.monotonic()
        walk = walk_chain(after=after)
        seconds = time.monotonic() - started
        rate = f"{walk.checked / seconds:,.0f} entries a second" if seconds > 0 else "instant"
        if walk.broken is not None:
            security_log.error("Audit log chain broken at entry %s: %s", walk.broken.entry_id, walk.broken.reason)
            raise CommandError(
                f"Audit log chain broken at entry {walk.broken.entry_id}: {walk.broken.reason} "
                f"({walk.checked} entries before it verified)."
            )
        if expected is not None:
            self._check_anchor(int(expected["id"]), expected["hash"])
        if walk.head_id is None and not AuditEntry.objects.exists():
            # An empty log verifies trivially: only something kept outside the database tells a new
            # installation from an emptied log, and there is none here (an anchor found it above).
            self.stdout.write(
                f"The audit log is empty, and no head was ever kept outside the database ({kept} does not "
                "exist): a new installation, or a log emptied before its first verification. Nothing here "
                "can tell which."
            )
        else:
            scope = f"from checkpoint (after entry {after[0]})" if after is not None else "the whole chain"
            self.stdout.write(
                f"Audit log verified: {walk.checked:,} entries, {scope}, chain intact ({seconds:.2f} s, {rate})."
            )
            if expected is None:
                self.stdout.write(
                    f"No head kept outside the database yet ({kept} does not exist): entries removed from the "
                    "end before this run cannot be found. This run keeps its head there for the next."
                )
        head_id, head_hash = walk.head_id, walk.head_hash
        if not no_checkpoint and head_id is not None:
            checkpoint = self._record_checkpoint(walk.checked, head_id, head_hash, after, seconds)
            head_id, head_hash = checkpoint.id, checkpoint.entry_hash
            self.stdout.write(f"Checkpoint recorded: entry {checkpoint.id} (verified up to entry {walk.head_id}).")
        if head_id is not None:
            self.stdout.write(f"Head: {head_id}:{head_hash}")
            logger.info("Audit log head %s:%s after verifying %s entries", head_id, head_hash, walk.checked)
            if not no_checkpoint:  # a read-only copy's head is not the log's
                self._keep_anchor(kept, head_id, head_hash)
        self._report_unresolved()
        # What the features leave unresolved (orgadmin: change requests sent with outcome unknown).
        verified.send(sender=self.__class__, write=self.stdout.write)
        self._report_guard()

    def _checkpoint(self, since: str) -> tuple[int, str] | None:
        """The entry a checkpoint verified up to, and its hash then, once the checkpoint itself and
        that entry are seen to be as they were; None (walk it all) when there is no checkpoint yet."""
        checkpoints = AuditEntry.objects.filter(action=AuditEntry.Action.CHECKPOINT, actor_username=CHECKPOINT_ACTOR)
        if since == "latest":
            checkpoint = checkpoints.order_by("-id").first()
            if checkpoint is None:
                self.stdout.write("No checkpoint recorded yet: walking the whole chain.")
                return None
        elif CHECKPOINT_ID.fullmatch(since):
            checkpoint = checkpoints.filter(id=int(since)).first()
            if checkpoint is None:
                raise CommandError(f"--since: entry {since} is not a checkpoint of verify_audit's.")
        else:
            raise CommandError("--since takes 'latest' or the id of a checkpoint entry.")
        # Its own hash is keyed: a checkpoint written or changed by anyone without the key fails here.
        if entry_hash(checkpoint) != checkpoint.entry_hash:
            raise CommandError(
                f"Checkpoint {checkpoint.id} does not match its hash: it was changed after it was written"
            )
        up_to_id = (checkpoint.request_body or {}).get("verified_up_to_id")
        up_to_hash = (checkpoint.request_body or {}).get("verified_up_to_hash")
        if not AuditEntry.objects.filter(id=up_to_id, entry_hash=up_to_hash).exists():
            raise CommandError(
                f"The entry checkpoint {checkpoint.id} verified up to ({up_to_id}) is no longer in the log with "
                "that hash: walk the whole chain (without --since) to find what changed."
            )
        return up_to_id, up_to_hash

    def _record_checkpoint(
        self, checked: int, head_id: int, head_hash: str, after: tuple[int, str] | None, seconds: float
    ) -> AuditEntry:
        try:
            return audit_protocol.record(
                AuditContext(actor=None, actor_label=CHECKPOINT_ACTOR),
                action=AuditEntry.Action.CHECKPOINT,
                nothing_sent=True,
                what="the checkpoint of verify_audit",
                request_body={
                    "verified_up_to_id": head_id,
                    "verified_up_to_hash": head_hash,
                    "entries": checked,
                    "from_entry_id": after[0] if after is not None else None,
                },
                duration_ms=round(seconds * 1000),
                attempts=1,
            )
        except AuditUnavailable:
            raise CommandError("The chain verified, but the audit log could not record the checkpoint.") from None

    def _kept_anchor(self, kept: Path) -> re.Match[str] | None:
        """The head the last run kept outside the database (AUDIT_ANCHOR_FILE), or None when no run
        ever kept one there."""
        try:
            text = kept.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CommandError(f"The head kept in {kept} cannot be read: {exc.strerror}.") from None
        expected = ANCHOR.fullmatch(text)
        if expected is None:
            raise CommandError(f"{kept} holds no head (ID:HASH) as verify_audit keeps it: it was changed.")
        return expected

    def _keep_anchor(self, kept: Path, head_id: int, head_hash: str) -> None:
        """Keeps the head outside the database, for the next run to hold the log to (replaced whole,
        so that a run stopped halfway leaves the last head, never half of one)."""
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_name(f"{kept.name}.partial")
            partial.write_text(f"{head_id}:{head_hash}\n", encoding="utf-8")
            partial.replace(kept)
        except OSError as exc:
            raise CommandError(
                f"The chain verified, but its head could not be kept in {kept} ({exc.strerror}): set "
                "AUDIT_ANCHOR_FILE to a file on storage that outlives the database's."
            ) from None
        self.stdout.write(f"Head kept in {kept}.")

    def _check_anchor(self, entry_id: int, entry_hash: str) -> None:
        if AuditEntry.objects.filter(id=entry_id, entry_hash=entry_hash).exists():
            return
        oldest = AuditEntry.objects.order_by("id").values_list("id", flat=True).first()
        if oldest is None:
            security_log.error("Audit log empty, though entry %s was in it when its head was kept", entry_id)
            raise CommandError(
                f"The audit log is empty, but entry {entry_id} was in it when its head was kept: the log was "
                "emptied since."
            )
        if oldest is not None and entry_id < oldest:
            self.stdout.write(f"The anchor {entry_id} is older than the oldest entry kept: pruned since.")
            return
        security_log.error("Audit log: the anchor entry %s is no longer in it with that hash", entry_id)
        raise CommandError(
            f"The anchor entry {entry_id} is no longer in the audit log with that hash: entries were removed "
            "from its end, or the log was replaced, since the anchor was taken."
        )

    def _report_unresolved(self) -> None:
        """The writes sent (or about to be) whose outcome is not known, older than a call can take,
        and not resolved since by a read of Polytomic: the portal stopped before their outcome, or
        their answer was lost. Polytomic may or may not have made them."""
        timeout = settings.POLYTOMIC_TOTAL_TIMEOUT
        unresolved = queries.unresolved_attempts(older_than_seconds=timeout)
        listed = list(unresolved[: UNRESOLVED_LISTED + 1])
        count = len(listed) if len(listed) <= UNRESOLVED_LISTED else unresolved.count()
        if not count:
            self.stdout.write(f"Writes with outcome unknown (older than {timeout:g} s): none.")
            return
        self.stdout.write(
            f"Writes with outcome unknown (older than {timeout:g} s): {count}. No answer said what came of "
            "each, and no read of Polytomic has found out yet: `manage.py resolve_writes` reads Polytomic for "
            "them (or check each there by hand)."
        )
        for entry in listed[:UNRESOLVED_LISTED]:
            self.stdout.write(
                f"  entry {entry.id}  {entry.created_at:%Y-%m-%d %H:%M:%S} UTC  {entry.actor_username or '-'}  "
                f"{entry.method} {entry.path}  {entry.organization_name or entry.organization_id or '-'}  "
                f"idempotency key {entry.idempotency_key or '-'}  request {entry.request_id or '-'}"
            )
        if count > UNRESOLVED_LISTED:
            self.stdout.write(f"  … and {count - UNRESOLVED_LISTED} more: /audit/?outcome=unknown lists them all.")
        logger.warning("Audit log: %s writes with outcome unknown", count)

    def _report_guard(self) -> None:
        if guard_in_place():
            self.stdout.write("Database guard: in place (the database refuses changes and deletions).")
            return
        message = (
            "Database guard MISSING: the audit table's triggers of migration 0009 are gone, so the database "
            "no longer refuses changes and deletions. Run `manage.py migrate orgadmin 0008` then `migrate`."
        )
        self.stderr.write(message)
        security_log.error(message)
