"""Finds out, by reading Polytomic, what came of each write whose outcome is unknown (its answer
lost, or its worker gone), and records what was found (orgadmin/outcomes.py). Schedule this
(every few minutes, cron) so that none is left for `verify_audit` to list; the pages that show
such a write resolve it too."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orgadmin import outcomes

SAID = {True: "done", False: "not done", None: "still unknown"}


class Command(BaseCommand):
    help = "Find out at Polytomic what came of the writes whose outcome is unknown, and record what was found."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle",
            action="store_true",
            help="The portal is stopped and Polytomic idle: every write is over, and one not seen done will not land "
            "(the end of a load run). Without it, a write not seen done stays unknown until it can no longer land.",
        )

    def handle(self, *args: Any, idle: bool, **options: Any) -> None:
        findings = outcomes.resolve_pending(most=None, idle=idle)
        for attempt, finding in findings:
            self.stdout.write(
                f"  entry {attempt.pk}  {attempt.action}  {attempt.organization_name or attempt.organization_id or '-'}"
                f"  {'cannot be told' if finding.final else SAID[finding.done]}: {finding.words}"
            )
        left = sum(1 for _, finding in findings if finding.done is None and not finding.final)
        self.stdout.write(f"Writes of unknown outcome: {len(findings) - left} resolved, {left} left.")
