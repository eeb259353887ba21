"""The organizations the sandbox seeds and stores, and its own checks of their fields.

The checks are written here, apart from the portal's field table: the sandbox is what the portal
is checked against, so it must not confirm the portal to itself. What public material does not
confirm is in `Guess`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PARTNER_KEY = "sandbox-partner-key"
OTHER_PARTNER_KEY = "sandbox-other-partner-key"

# Seeded organizations, with fixed ids so that demos, tests and docs can name them.
OWNER_ID = "7a1f0c2e-0000-4000-8000-000000000001"
ACME_ID = "7a1f0c2e-0000-4000-8000-000000000002"
GLOBEX_ID = "7a1f0c2e-0000-4000-8000-000000000003"
INITECH_ID = "7a1f0c2e-0000-4000-8000-000000000004"
FOREIGN_ID = "7a1f0c2e-0000-4000-8000-0000000000ff"  # belongs to another partner: 403

# The request schema's fields (CreateOrganizationRequestSchema, API version 2025-09-18), written
# here apart from the portal's own table: the sandbox is what the portal is checked against.
TEXT_FIELDS = ("name", "sso_domain", "sso_org_id", "issuer", "client_id", "client_secret")
OIDC_TRIPLE = ("issuer", "client_id", "client_secret")


# --- What public material does not confirm --------------------------------------------------------
#
# Everything in `Guess` is the sandbox's guess at what Polytomic does where its documents, SDKs
# and Terraform provider say nothing. The portal must cope with Polytomic doing otherwise;
# `Sandbox(bare_errors=True)` drops the guessed `key` and `metadata` from every error, as the
# published ApiError allows. The checks are written here, not taken from the portal, so that
# tests against the sandbox do not only confirm the portal to itself.


class Guess:
    # Error wording and `key` strings.
    UNAUTHORIZED = ("invalid or unknown API key", "unauthorized")
    NOT_FOUND = ("organization not found", "not_found")
    FOREIGN = ("this organization belongs to another partner", "forbidden")  # 403, not 404
    OWNER_DELETE = ("partner callers cannot delete their own owner organization", "forbidden")
    NAME_TAKEN = ("an organization with this name already exists", "organization_name_taken")
    IN_FLIGHT = ("a request with this Idempotency-Key is already in progress", "idempotency_key_in_use")
    INVALID = ("validation failed", "validation_failed")  # 422, with `metadata` keyed by field name
    # 400 for a request the API cannot read, 404 for a path it has not, 405 for a method it takes not.
    BAD_KEY = ("Idempotency-Key must be 8-255 letters, digits, '-' or '_'", "invalid_idempotency_key")
    NOT_JSON = ("the request body is not valid JSON", "invalid_request")
    NOT_OBJECT = ("the request body must be a JSON object", "invalid_request")
    NOT_TEXT = ("{name} must be a string", "invalid_request")
    NO_SUCH_PATH = ("not found", "not_found")
    METHOD_NOT_ALLOWED = ("{method} is not allowed here", "method_not_allowed")

    @staticmethod
    def same_name(one: str, other: str) -> bool:
        """Names are unique regardless of case."""
        return one.casefold() == other.casefold()

    @staticmethod
    def problems(fields: dict[str, str | None]) -> dict[str, str]:
        """What Polytomic might refuse in an organization's fields, by field name: no name, an
        issuer that is not https, a domain that is not bare, some of the OIDC fields without
        the others."""
        problems: dict[str, str] = {}
        if fields["name"] is None:
            problems["name"] = "name is required"
        issuer = fields["issuer"]
        if issuer is not None and not _https_with_host(issuer):
            problems["issuer"] = "issuer must be an https:// URL"
        domain = fields["sso_domain"]
        if domain is not None and not _bare_domain(domain):
            problems["sso_domain"] = "sso_domain must be a bare domain such as example.com"
        given = [name for name in OIDC_TRIPLE if fields[name] is not None]
        for name in OIDC_TRIPLE:
            if given and fields[name] is None:
                problems[name] = f"{name} is required when any of issuer, client_id, client_secret is set"
        return problems


def _https_with_host(value: str) -> bool:
    scheme, separator, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    return scheme == "https" and bool(separator) and bool(host) and "@" not in host and not re.search(r"\s", value)


def _bare_domain(value: str) -> bool:
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
        and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels)
    )


@dataclass
class StoredOrganization:
    id: str
    partner: str
    name: str
    sso_domain: str | None = None
    sso_org_id: str | None = None
    issuer: str | None = None
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    owner: bool = False

    def public(self) -> dict[str, Any]:
        """What the API returns: never `client_id` or `client_secret`, and an unset field left
        out (the Organization schema types every field as a plain string, never null)."""
        fields = {"id": self.id, "name": self.name, "issuer": self.issuer}
        fields |= {"sso_domain": self.sso_domain, "sso_org_id": self.sso_org_id}
        return {name: value for name, value in fields.items() if value is not None}


def seeded_organizations() -> list[StoredOrganization]:
    return [
        StoredOrganization(OWNER_ID, "partner", "Northwind Partners", owner=True),
        StoredOrganization(ACME_ID, "partner", "Acme Corporation", sso_domain="acme.example", sso_org_id="org_01ACME"),
        StoredOrganization(
            GLOBEX_ID,
            "partner",
            "Globex",
            sso_domain="globex.example",
            issuer="https://globex.okta.example",
            client_id="0oa-globex-client",
            client_secret="globex-oidc-secret",  # noqa: S106 (seed data of a fake service)
        ),
        StoredOrganization(INITECH_ID, "partner", "Initech"),
        StoredOrganization(FOREIGN_ID, "other", "Umbrella (another partner)", owner=True),
    ]
