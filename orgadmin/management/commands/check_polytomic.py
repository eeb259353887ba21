from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.connections.queries import partner_connections
from orgadmin.organizations.queries import organization_owner_id, partner_identity
from orgadmin.people.queries import organization_roles
from orgadmin.polytomic.client import Identity
from orgadmin.polytomic.errors import PolytomicBasicAuthRefused, PolytomicError


class Command(BaseCommand):
    help = (
        "Asks Polytomic who it takes the configured key for (GET /api/me, audited like every call) and says "
        "whether Polytomic is reachable and the key is a partner key; then lists the owner organization's roles "
        "and connections by HTTP Basic as that organization (its id and the partner key), as the people pages "
        "and onboarding do, and says whether Polytomic accepts that. Exits 0 only if all of it works. The check "
        "after a deploy."
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
        self.stdout.write(self._as_organization(identity, context=context))

    def _as_organization(self, identity: Identity, *, context: AuditContext) -> str:
        """Lists the owner organization's roles and connections as the organization: Polytomic's
        Terraform provider does so, and its API reference does not promise that it works."""
        how = "Listing roles and connections by HTTP Basic as the owner organization (its id and the partner key)"
        try:
            owner_id = identity.organization_id or organization_owner_id(context=context)
            roles = organization_roles(context=context, organization_id=UUID(owner_id))
            connections = partner_connections(context=context, owner_id=owner_id)
        except PolytomicBasicAuthRefused as exc:
            raise CommandError(
                f"{how} does NOT work: Polytomic refused it (HTTP {exc.status}). The people pages, the Connections "
                "pages and onboarding's connections and administrators steps cannot list them until it does: ask "
                "Polytomic support to let the partner key act as an organization (HTTP Basic)."
            ) from None
        except (PolytomicError, AuditUnavailable) as exc:
            raise CommandError(f"{how} could not be checked: {exc.message}") from None
        return f"{how} works: {len(roles)} roles, {len(connections)} connections."
