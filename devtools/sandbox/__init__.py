"""A stand-in for Polytomic's partner API, for the demo, the tests and load runs.

It serves the API as Polytomic's published documents describe it (API version 2025-09-18), as
strictly as the real service is likely to be: bearer partner keys, full replacement of the
SSO/OIDC configuration on update, write-only OIDC credentials, idempotency keys on POST and PUT,
and the error shapes. What public material does not confirm is in `Guess` (organizations.py),
`PeopleGuess` and `ConnectionGuess`. Polytomic's own Python SDK is tested against it
(tests/test_sandbox_sdk.py), and what it answers the portal and the SDK is checked against the
published contract after every test (tests/contract.py). It validates with its own code, never
the portal's (an import-linter contract keeps it so).

- `server.py`: HTTP: the WSGI application, its routing and control endpoints, the loopback server.
- `state.py`: the store (organizations, people, connections), the API's endpoints, idempotency.
- `organizations.py`, `people.py`, `connections.py`: each resource's stored shape, seed and checks.
- `faults.py`: fault injection (latency, errors, broken answers) and `POST /_sandbox/faults`.
- `answers.py`: an answer and the ApiError shape.
"""

from __future__ import annotations

from devtools.sandbox.connections import StoredConnection
from devtools.sandbox.faults import Faults
from devtools.sandbox.organizations import (
    ACME_ID,
    FOREIGN_ID,
    GLOBEX_ID,
    INITECH_ID,
    OTHER_PARTNER_KEY,
    OWNER_ID,
    PARTNER_KEY,
    StoredOrganization,
    seeded_organizations,
)
from devtools.sandbox.server import RunningSandbox, Sandbox

__all__ = [
    "ACME_ID",
    "FOREIGN_ID",
    "GLOBEX_ID",
    "INITECH_ID",
    "OTHER_PARTNER_KEY",
    "OWNER_ID",
    "PARTNER_KEY",
    "Faults",
    "RunningSandbox",
    "Sandbox",
    "StoredConnection",
    "StoredOrganization",
    "seeded_organizations",
]
