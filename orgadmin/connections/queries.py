"""What the portal reads of the partner's connections: those its owner organization lists."""

from __future__ import annotations

from uuid import UUID

from audit.protocol import AuditContext
from orgadmin.polytomic.client import client
from orgadmin.polytomic.connections import Connection


def partner_connections(*, context: AuditContext, owner_id: str) -> list[Connection]:
    """The partner's own connections, as its owner organization lists them."""
    return client().list_connections(UUID(owner_id), context=context)
