"""Checks at Polytomic the change requests sent whose outcome is not known (their sender's audit
entry refused, or their worker gone past its deadline), then expires those past their time,
erasing their client secrets. The one place an expiry is recorded: the queue shows a request past
its time as expired at once, writing nothing. It records the expiry of the setup links past their
time too (they are refused from then on, recorded or not). Schedule this (hourly, cron) so that no request stays
unknown, and no secret outlives its request."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from orgadmin.change_requests import requesting, resolving
from orgadmin.models import ChangeRequest
from orgadmin.setup_links import links


class Command(BaseCommand):
    help = (
        "Check at Polytomic the change requests sent whose outcome is not known, then expire the change requests "
        "past their time, and erase their client secrets."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        checked = resolving.resolve_unknown()
        if checked:
            self.stdout.write(f"Checked {len(checked)} change request(s) whose outcome was not known:")
            for change in checked:
                still = " (still not known)" if change.status == ChangeRequest.Status.UNKNOWN else ""
                self.stdout.write(
                    f"  change request {change.pk}  {change.get_kind_display().lower()} {change.organization_name}"
                    f"  {change.status_shown.lower()}{still}: {change.result}"
                )
        expired = requesting.expire_due()
        self.stdout.write(f"Expired {expired} change request(s).")
        self.stdout.write(f"Recorded the expiry of {links.expire_due()} setup link(s).")
