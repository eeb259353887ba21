"""Sharing the partner's connections into a customer organization from its Connections page: one
audited call a connection, each with the Idempotency-Key of the form that asked."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin import outcomes
from orgadmin.idempotency import idempotency_key
from orgadmin.polytomic.client import client
from orgadmin.polytomic.connections import Connection
from orgadmin.polytomic.errors import PolytomicError, PolytomicOutcomeUnknown


@dataclass(frozen=True)
class Shared:
    """What became of one connection: shared, not (`reason` says why), or not known."""

    connection: Connection
    shared: bool = False
    unknown: bool = False
    reason: str = ""


def share(
    *, context: AuditContext, owner_id: str, organization_id: str, connections: list[Connection], form_key: str
) -> list[Shared]:
    """Shares each connection in turn; a failure is that connection's, and the rest are still
    tried, but the audit log refusing stops them all (nothing more may be sent)."""
    results: list[Shared] = []
    for connection in connections:
        key = idempotency_key(
            form_key=form_key, action=AuditEntry.Action.CONNECTION_SHARE, target=f"{organization_id}:{connection.id}"
        )
        try:
            client().share_connection(
                UUID(owner_id), UUID(connection.id), into=UUID(organization_id), idempotency_key=key, context=context
            )
        except PolytomicOutcomeUnknown:
            # Read at once: a share Polytomic made is shown as shared, one not seen stays unknown.
            found = outcomes.resolve_at_once(context=context, action=AuditEntry.Action.CONNECTION_SHARE,
                                             idempotency_key=key)  # fmt: skip
            results.append(
                Shared(connection, shared=True) if found and found.done else Shared(connection, unknown=True)
            )
        except PolytomicError as exc:
            results.append(Shared(connection, reason=exc.message))
        except AuditUnavailable as exc:
            results.extend(Shared(c, reason=exc.message) for c in connections[len(results) :])
            break
        else:
            results.append(Shared(connection, shared=True))
    return results
