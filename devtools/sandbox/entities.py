"""The sandbox's partner entity lookup (`GET /api/organizations/entities/{id}`, the published
operation `get-for-partner`, the SDK's `entities.get_for_partner`): any id of the things the sandbox
holds (organizations, users, connections and their shared copies) resolved to its type, the
organization that owns it and its canonical path, within the partner's own organizations. An
unknown id, or one of another partner's, is a 404, as the published document says. Guesses in
`EntityGuess`."""

from __future__ import annotations

import re
import uuid
from typing import Any

from devtools.sandbox.answers import Response, error

ENTITY_PATH = re.compile(r"^/api/organizations/entities/(?P<id>[^/]+)$")


class EntityGuess:
    # The published document lists 200/403/404/500 and says nothing of an id that is no UUID: a
    # 400 with this wording is a guess.
    NOT_A_UUID = ("id must be a UUID", "invalid_request")
    NOT_FOUND = ("entity not found", "not_found")
    # The document shows `relationships` only for nested resources (a sync execution's sync); a
    # user's parent organization named there is a guess.


class EntitiesApi:
    """Mixed into `SandboxState`, which holds the store, the lock, the organizations, the users
    and the connections."""

    organizations: dict[str, Any]
    users: dict[str, Any]
    stored_connections: dict[str, Any]

    def _entity(self, method: str, match: re.Match, partner: str) -> Response:
        if method != "GET":
            return self._not_allowed_here(method)
        try:
            entity_id = str(uuid.UUID(match["id"]))
        except ValueError:
            return error(400, EntityGuess.NOT_A_UUID)
        found = self._resolved(entity_id)
        with self.lock:
            owner = self.organizations.get(found["organization_id"]) if found else None
        if found is None or owner is None or owner.partner != partner:
            return error(404, EntityGuess.NOT_FOUND)
        return Response(200, {"data": found})

    def _resolved(self, entity_id: str) -> dict[str, Any] | None:
        with self.lock:
            if entity_id in self.organizations:
                return _entity(entity_id, "organization", f"/api/organizations/{entity_id}", entity_id)
            if (user := self.users.get(entity_id)) is not None:
                organization = user.organization_id
                return _entity(entity_id, "user", f"/api/organizations/{organization}/users/{entity_id}",
                               organization, relationships={"organization": {
                                   "id": organization, "path": f"/api/organizations/{organization}"}})  # fmt: skip
            if (connection := self.stored_connections.get(entity_id)) is not None:
                return _entity(entity_id, "connection", f"/api/connections/{entity_id}", connection.organization_id)
        return None


def _entity(
    entity_id: str, kind: str, path: str, organization_id: str, relationships: dict[str, Any] | None = None
) -> dict[str, Any]:
    found = {"id": entity_id, "type": kind, "canonical_path": path, "organization_id": organization_id}
    return found | ({"relationships": relationships} if relationships else {})
