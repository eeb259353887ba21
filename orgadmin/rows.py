"""What the pages' tables show, computed once a row in Python, and printed by Jinja2.

A table's cells are plain values, ready to print: labels looked up, times formatted, links built.
Django's template engine costs several microseconds for each variable, filter, `{% url %}` and
`{% include %}` it meets, and a table multiplies them by its rows; Jinja2 prints the same rows for
a fraction of that (docs/performance.md has the figures). So the rows alone are Jinja2 templates
(`orgadmin/jinja2/orgadmin/_*_rows.html`), printed by `{% table_rows %}` inside the Django
templates that hold the rest of each table; they have no logic but the choice of a badge. Jinja2
escapes every value as Django does (the markup scan, tests/test_markup.py, covers them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import reverse

from audit.rows import audit_rows  # noqa: F401 (the audit table's rows, which the organization and onboarding pages show)
from orgadmin.polytomic.fields import Organization


@dataclass(frozen=True, slots=True)
class OrganizationRow:
    """One organization in the list."""

    url: str
    id: str
    name: str
    sso_domain: str
    is_owner: bool
    has_saml_sso: bool
    has_oidc: bool


def organization_rows(organizations: Iterable[Organization], *, owner_id: str) -> list[OrganizationRow]:
    head = _head(reverse("orgadmin:organization-detail", args=[_ZERO_ID]), f"{_ZERO_ID}/")
    return [
        OrganizationRow(
            url=f"{head}{organization.id}/",
            id=organization.id,
            name=organization.name,
            sso_domain=organization.sso_domain or "—",
            is_owner=organization.id == owner_id,
            has_saml_sso=organization.has_saml_sso,
            has_oidc=organization.has_oidc,
        )
        for organization in organizations
    ]


_ZERO_ID = "00000000-0000-0000-0000-000000000000"


def _head(address: str, tail: str) -> str:
    """`address` without its last segment `tail`: what every row's address starts with."""
    if not address.endswith(tail):
        raise ValueError(f"{address} does not end with {tail}")
    return address[: -len(tail)]
