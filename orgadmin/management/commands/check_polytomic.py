from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.organizations.queries import partner_identity
from orgadmin.polytomic.errors import PolytomicError


class Command(BaseCommand):
    help = (
        "Asks Polytomic who it takes the configured key for (GET /api/me, audited like every call) and says "
        "whether Polytomic is reachable and the key is a partner key; exits 0 only then. The check after a deploy."
    )

    def handle(self, *args: object, **options: object) -> None:
        context = AuditContext(actor=None, actor_label="system:check_polytomic")
        where = f"Polytomic at {settings.POLYTOMIC_API_URL}"
        try:
            identity = partner_identity(context=context)
        except (PolytomicError, AuditUnavailable) as exc:
            raise CommandError(f"{where} did not confirm the key: {exc.message}") from None
        if not identity.is_partner:
            raise CommandError(
                f"{where} answered, but the configured key is not a partner key: the portal cannot manage "
                "organizations with it."
            )
        owner = f" for {identity.organization_name} ({identity.organization_id})" if identity.organization_id else ""
        self.stdout.write(f"{where} is reachable and the key is a partner key{owner}.")
