"""`verify_audit`: checkpoints a daily run starts from, and the writes whose outcome is unknown."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from audit.store import append
from audit.verification import walk_chain
from tests.support import guard_lifted


def add_entry(**fields) -> AuditEntry:
    defaults = {"actor_username": "ed", "action": "organization.list", "method": "GET", "path": "/api/organizations",
                "outcome": "ok", "duration_ms": 5}  # fmt: skip
    entry = AuditEntry(**(defaults | fields))
    append(entry)
    return entry


def add_attempt(seconds_ago: float, **fields) -> AuditEntry:
    return add_entry(
        phase="attempt", action="organization.update", method="PUT", path="/api/organizations/x", outcome="unknown",
        duration_ms=0, attempts=0, created_at=timezone.now() - timedelta(seconds=seconds_ago),
        idempotency_key=f"key-{seconds_ago}", request_id=f"req-{seconds_ago}", **fields,
    )  # fmt: skip


def verify(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_audit", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def walked(printed: str) -> int:
    return int(re.search(r"verified: ([0-9,]+) entries", printed)[1].replace(",", ""))


@pytest.mark.django_db
class CheckpointTests:
    def test_a_run_records_the_hash_it_reached_and_the_next_walks_only_what_is_new(self):
        for _ in range(5):
            add_entry()
        last = AuditEntry.objects.order_by("-id").first()
        printed, _ = verify()
        assert walked(printed) == 5
        first = AuditEntry.objects.order_by("-id").first()
        assert (first.action, first.actor_username) == ("audit.checkpoint", "system:verify_audit")
        assert first.request_body["verified_up_to_id"] == last.id
        assert first.request_body["verified_up_to_hash"] == last.entry_hash
        assert first.previous_hash == last.entry_hash  # in the chain like any entry

        add_entry()
        add_entry()
        printed, _ = verify("--since", "latest")
        assert walked(printed) == 3  # the first checkpoint and the two entries after it
        assert f"after entry {last.id}" in printed
        second = AuditEntry.objects.order_by("-id").first()
        assert second.request_body["from_entry_id"] == last.id
        assert walked(verify("--since", str(first.id))[0]) == 4  # from an older checkpoint, by id
        assert walked(verify()[0]) == 10  # the whole chain, checkpoints included

    def test_since_latest_without_a_checkpoint_walks_the_whole_chain(self):
        add_entry()
        printed, _ = verify("--since", "latest")
        assert "No checkpoint recorded yet" in printed
        assert walked(printed) == 1

    def test_a_change_after_the_checkpoint_is_found(self):
        add_entry()
        verify()
        changed = add_entry()
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("UPDATE orgadmin_auditentry SET outcome = 'failed' WHERE id = %s", [changed.id])
        with pytest.raises(CommandError, match=f"chain broken at entry {changed.id}"):
            verify("--since", "latest")

    def test_a_checkpoint_whose_entry_was_removed_or_forged_is_refused(self, settings):
        verified = add_entry()
        verify()
        checkpoint = AuditEntry.objects.order_by("-id").first()
        with guard_lifted(), connection.cursor() as cursor:  # moved on past entries that were never verified
            cursor.execute(
                "UPDATE orgadmin_auditentry SET request_body = %s WHERE id = %s",
                ['{"verified_up_to_id": 999, "verified_up_to_hash": "x"}', checkpoint.id],
            )
        with pytest.raises(CommandError, match=f"Checkpoint {checkpoint.id} does not match its hash"):
            verify("--since", "latest")
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry WHERE id >= %s", [checkpoint.id])
        with pytest.raises(CommandError, match=f"anchor entry {checkpoint.id} is no longer in the audit log"):
            verify()  # the tail cut, as the head kept outside the database shows
        settings.AUDIT_ANCHOR_FILE.unlink()  # forgotten: the shorter chain verifies, and checkpoints again
        verify()
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry WHERE id = %s", [verified.id])
        with pytest.raises(CommandError, match=f"verified up to \\({verified.id}\\) is no longer in the log"):
            verify("--since", "latest")

    @pytest.mark.parametrize("since", ["x", "12a", "-1"])
    def test_a_malformed_checkpoint_is_refused(self, since):
        with pytest.raises(CommandError, match="--since takes 'latest' or the id of a checkpoint entry"):
            verify("--since", since)

    def test_an_entry_that_is_no_checkpoint_is_refused(self):
        entry = add_entry()
        with pytest.raises(CommandError, match=f"entry {entry.id} is not a checkpoint"):
            verify("--since", str(entry.id))

    def test_no_checkpoint_on_a_read_only_copy(self):
        add_entry()
        verify("--no-checkpoint")
        assert not AuditEntry.objects.filter(action="audit.checkpoint").exists()


@pytest.mark.django_db
class KeptHeadTests:
    """Removing the newest entries, or all of them, leaves a chain that verifies: only the head a
    run kept outside the database (AUDIT_ANCHOR_FILE) finds it, and verify_audit holds the log to
    it without being asked."""

    def cut(self, from_id: int) -> None:
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry WHERE id >= %s", [from_id])

    def test_each_run_keeps_its_head_and_the_next_is_held_to_it(self, settings):
        add_entry()
        printed, _ = verify()
        head = re.search(r"Head: ([0-9]+:[0-9a-f]{64})", printed)[1]
        assert settings.AUDIT_ANCHOR_FILE.read_text() == f"{head}\n"
        assert f"Head kept in {settings.AUDIT_ANCHOR_FILE}." in printed
        add_entry()
        printed, _ = verify("--since", "latest")
        assert "chain intact" in printed
        assert settings.AUDIT_ANCHOR_FILE.read_text() != f"{head}\n"  # moved on to this run's head

    def test_a_cut_tail_fails_with_no_option_given(self):
        first = add_entry()
        cut_from = add_entry()
        add_entry()
        verify()
        self.cut(cut_from.id)
        assert walk_chain().broken is None  # what is left is a valid chain
        with pytest.raises(CommandError, match="no longer in the audit log with that hash: entries were removed"):
            verify()
        with pytest.raises(CommandError, match="no longer in the audit log"):
            verify("--since", "latest")
        assert AuditEntry.objects.filter(id__gt=first.id).count() == 0  # a failed run records no checkpoint

    def test_an_emptied_log_is_never_called_intact(self, caplog):
        add_entry()
        verify()
        self.cut(0)
        out = StringIO()
        with pytest.raises(CommandError, match=r"The audit log is empty, but entry [0-9]+ was in it") as failed:
            call_command("verify_audit", stdout=out)
        assert "intact" not in out.getvalue() + str(failed.value)
        assert any(r.name == "orgadmin.security" and "empty" in r.getMessage() for r in caplog.records)

    def test_a_new_installation_is_said_to_be_one_honestly(self, settings):
        printed, _ = verify()
        assert "The audit log is empty, and no head was ever kept outside the database" in printed
        assert "a new installation, or a log emptied before its first verification" in printed
        assert "intact" not in printed
        assert not settings.AUDIT_ANCHOR_FILE.exists()
        add_entry()
        printed, _ = verify()
        assert "chain intact" in printed
        assert "No head kept outside the database yet" in printed
        assert settings.AUDIT_ANCHOR_FILE.exists()

    def test_a_given_anchor_stands_for_the_kept_head(self, settings):
        kept = add_entry()
        verify()
        settings.AUDIT_ANCHOR_FILE.write_text("not a head\n")
        with pytest.raises(CommandError, match="holds no head"):
            verify()
        assert "chain intact" in verify("--anchor", f"{kept.id}:{kept.entry_hash}")[0]

    def test_a_read_only_copy_keeps_no_head(self, settings):
        add_entry()
        verify("--no-checkpoint")
        assert not settings.AUDIT_ANCHOR_FILE.exists()


@pytest.mark.django_db
class UnresolvedTests:
    def test_attempts_without_outcome_older_than_the_timeout_are_listed(self, settings):
        settings.POLYTOMIC_TOTAL_TIMEOUT = 20
        stale = add_attempt(3600, organization_name="Acme")
        add_attempt(5)  # still within a call's time: in flight, not lost
        finished = add_attempt(3000)
        add_entry(phase="outcome", attempt_id=finished.id, action="organization.update", method="PUT",
                  path="/api/organizations/x", idempotency_key=finished.idempotency_key)  # fmt: skip
        printed, _ = verify()
        assert "Writes with outcome unknown (older than 20 s): 1." in printed
        [line] = [line for line in printed.splitlines() if line.startswith("  entry ")]
        assert line.startswith(f"  entry {stale.id} ")
        assert "PUT /api/organizations/x  Acme  idempotency key key-3600  request req-3600" in line
        assert "chain intact" in printed

    def test_a_long_list_is_cut_and_counted(self, monkeypatch):
        from audit.management.commands import verify_audit

        monkeypatch.setattr(verify_audit, "UNRESOLVED_LISTED", 2)
        stale = [add_attempt(3600 + n) for n in range(3)]
        printed, _ = verify()
        assert "Writes with outcome unknown (older than 20 s): 3." in printed
        assert [line.split()[1] for line in printed.splitlines() if line.startswith("  entry ")] == [
            str(stale[2].id), str(stale[1].id)  # oldest first
        ]  # fmt: skip
        assert "… and 1 more: /audit/?outcome=unknown lists them all." in printed

    def test_none_is_said(self):
        add_entry()
        assert "Writes with outcome unknown (older than 20 s): none." in verify()[0]


@pytest.mark.django_db
class GuardReportTests:
    def test_the_guard_is_reported_and_its_absence_said_loudly(self, caplog):
        add_entry()
        assert "Database guard: in place" in verify()[0]
        with guard_lifted():
            printed, errors = verify()
        assert "chain intact" in printed
        assert "Database guard MISSING" in errors
        assert any(r.name == "orgadmin.security" and "MISSING" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
class ParallelWalkTests:
    """A long log is walked in stretches by processes of their own (here from 0 entries): the
    result is the one walk of it all, breaks included, wherever they fall against the cuts."""

    def walks(self, **kwargs) -> tuple:
        one = walk_chain(jobs=1, **kwargs)
        for jobs in (2, 3, 7):
            assert walk_chain(jobs=jobs, parallel_from=0, **kwargs) == one, jobs
        return one

    def test_an_intact_chain(self):
        entries = [add_entry() for _ in range(40)]
        walk = self.walks()
        assert (walk.checked, walk.head_id, walk.head_hash, walk.broken) == (
            40,
            entries[-1].id,
            entries[-1].entry_hash,
            None,
        )
        walk = self.walks(after=(entries[9].id, entries[9].entry_hash))
        assert (walk.checked, walk.head_id) == (30, entries[-1].id)

    @pytest.mark.parametrize("where", [0, 13, 14, 20, 26, 39])
    def test_a_changed_or_removed_entry_anywhere(self, where):
        entries = [add_entry() for _ in range(40)]
        target = entries[where]
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("UPDATE orgadmin_auditentry SET outcome = 'failed' WHERE id = %s", [target.id])
        changed = self.walks()
        assert (changed.checked, changed.broken.entry_id) == (where, target.id)
        assert changed.head_id == (entries[where - 1].id if where else None)
        with guard_lifted(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM orgadmin_auditentry WHERE id = %s", [target.id])
        removed = self.walks()
        if where == 39:
            assert (removed.checked, removed.broken) == (39, None)  # the newest: only an anchor tells
        else:
            assert (removed.checked, removed.broken.entry_id) == (where, entries[where + 1].id)
