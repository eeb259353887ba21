"""What the portal reads of the partner's connections: those its owner organization lists, and
which of them are shared into a customer organization."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from audit.protocol import AuditContext
from orgadmin.polytomic.client import client
from orgadmin.polytomic.connections import Connection, SharedConnection

# The most partner connections whose shares one page reads: one call each.
SHARES_READ_AT_MOST = 50


def partner_connections(*, context: AuditContext, owner_id: str) -> list[Connection]:
    """The partner's own connections, as its owner organization lists them."""
    return client().list_connections(UUID(owner_id), context=context)


@dataclass(frozen=True)
class ConnectionShare:
    """One of the partner's connections, and its copy in the organization if it is shared there."""

    connection: Connection
    copy: SharedConnection | None


@dataclass(frozen=True)
class Shares:
    rows: list[ConnectionShare]
    # Partner connections past SHARES_READ_AT_MOST, whose shares were not read.
    unread: int = 0

    @property
    def not_shared(self) -> list[Connection]:
        return [row.connection for row in self.rows if row.copy is None]


def shares_into(*, context: AuditContext, owner_id: str, organization_id: str) -> Shares:
    """Each of the partner's connections with its copy in the organization, if any: the partner's
    list, then one list of shares a connection (the first SHARES_READ_AT_MOST), each asked once
    for this request. Polytomic failing raises its errors, and the audit log refusing a read
    AuditUnavailable: a partial answer would show shared connections as not shared."""
    connections = partner_connections(context=context, owner_id=owner_id)
    rows = []
    for connection in connections[:SHARES_READ_AT_MOST]:
        copies = client().list_shared_connections(UUID(owner_id), UUID(connection.id), context=context)
        rows.append(
            ConnectionShare(connection, next((c for c in copies if c.organization_id == organization_id), None))
        )
    return Shares(rows, unread=max(0, len(connections) - SHARES_READ_AT_MOST))
