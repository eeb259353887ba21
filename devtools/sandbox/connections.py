"""The sandbox's connections: the partner's own (seeded in its owner organization), listed as an
organization (HTTP Basic auth, or a user's key), and shared into customer organizations, with the
shapes of Polytomic's published connections document (polytomic-subpackage-connections-api-openapi.yml
in api-evangelist/polytomic; SDK 25.9.10: connections.list, connections.shared_connections).
Guesses in `ConnectionGuess`."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from devtools.sandbox.answers import Response, error

CONNECTIONS_PATH = "/api/connections"
SHARED_PATH = re.compile(r"^/api/organizations/(?P<org>[^/]+)/connections/(?P<connection>[^/]+)/shared$")
SEEDED = (("Analytics warehouse", "Snowflake"), ("Sales CRM", "Salesforce"), ("Marketing", "HubSpot"))


class ConnectionGuess:
    NO_SUCH_CONNECTION = ("connection not found", "not_found")  # also for a connection of another organization
    CHILD_REQUIRED = ("child_organization_id is required", "bad_request")


@dataclass
class StoredConnection:
    id: str
    organization_id: str
    name: str
    type_name: str
    parent_id: str | None = None

    def public(self) -> dict[str, Any]:
        shown = {
            "id": self.id,
            "name": self.name,
            "organization_id": self.organization_id,
            "status": "healthy",
            "type": {"id": self.type_name.lower(), "name": self.type_name},
        }
        # A string, never null (ConnectionResponseSchema): "for shared connections, the ID of the
        # parent connection". That a connection shared from none leaves it out is a guess.
        if self.parent_id is not None:
            shown["parent_connection_id"] = self.parent_id
        return shown


def seeded_connections(organizations: list[Any]) -> dict[str, StoredConnection]:
    connections = {}
    for organization in organizations:
        if organization.owner and organization.partner == "partner":
            for name, kind in SEEDED:
                connection = StoredConnection(
                    str(uuid.uuid5(uuid.UUID(organization.id), name)), organization.id, name, kind
                )
                connections[connection.id] = connection
    return connections


class ConnectionsApi:
    """Mixed into `SandboxState`, which holds the store, the lock and the organizations."""

    stored_connections: dict[str, StoredConnection]

    def _list_connections(self, organization_id: str) -> Response:
        with self.lock:
            mine = [c.public() for c in self.stored_connections.values() if c.organization_id == organization_id]
        return Response(200, {"data": mine})

    def _shared(self, method: str, match: re.Match, partner: str, body: bytes) -> Response:
        refusal = self._organization_refusal(match["org"], partner)
        if refusal is not None:
            return refusal
        with self.lock:
            original = self.stored_connections.get(match["connection"])
        if original is None or original.organization_id != match["org"]:
            return error(404, ConnectionGuess.NO_SUCH_CONNECTION)
        if method == "GET":
            with self.lock:
                copies = [c.public() for c in self.stored_connections.values() if c.parent_id == original.id]
            return Response(200, {"data": copies})
        if method != "POST":
            return self._not_allowed_here(method)
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return error(400, "the request body is not valid JSON")
        child = payload.get("child_organization_id") if isinstance(payload, dict) else None
        if not isinstance(child, str):
            return error(400, ConnectionGuess.CHILD_REQUIRED)
        refusal = self._organization_refusal(child, partner)  # 404 unknown, 403 another partner's
        if refusal is not None:
            return refusal
        name = payload.get("name") if isinstance(payload.get("name"), str) and payload.get("name") else original.name
        copy = StoredConnection(str(uuid.uuid4()), child, name, original.type_name, parent_id=original.id)
        with self.lock:
            self.stored_connections[copy.id] = copy
        return Response(200, {"data": {"id": copy.id}})
