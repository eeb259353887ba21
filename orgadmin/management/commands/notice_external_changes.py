"""Reads the partner's organizations from Polytomic and records, as `organization.external_change`
audit entries, the changes no write of this portal's explains: a field changed, an organization
that appeared or disappeared (orgadmin/organizations/external.py). The first run only remembers
what it sees. Schedule this (every few minutes, cron); the organization pages compare what they
read too."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.protocol import PORTAL, AuditUnavailable
from orgadmin.organizations import external
from orgadmin.organizations.queries import organization_list
from orgadmin.polytomic.errors import PolytomicError


class Command(BaseCommand):
    help = "Record the changes made to the partner's organizations outside this portal."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organizations = organization_list(context=PORTAL)
            noticed, first_seen = external.notice_all(list(organizations), context=PORTAL)
        except (PolytomicError, AuditUnavailable, external.EmptyList) as exc:
            raise CommandError(f"Nothing compared: {exc.message}") from exc
        for change in noticed:
            what = ", ".join(change.fields)
            self.stdout.write(f"  {change.organization_name or change.organization_id}  {change.kind}: {what}")
        if first_seen:
            self.stdout.write(f"First look: {first_seen} organizations remembered as they are, none recorded.")
        self.stdout.write(f"Changes made outside this portal: {len(noticed)} recorded.")
