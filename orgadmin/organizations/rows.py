"""The organization list's rows, computed once a row in Python and printed by Jinja2
(`orgadmin/jinja2/orgadmin/_organization_rows.html`; why Jinja2: `orgadmin/templatetags/table_rows.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import reverse

from orgadmin.models import ChangeRequest
from orgadmin.polytomic.fields import Organization

_ZERO_ID = "00000000-0000-0000-0000-000000000000"


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
    # Its oldest change request waiting for a second person ("" if none), and where it is ("" for
    # someone who may not open it).
    waiting: str = ""
    waiting_url: str = ""


def organization_rows(
    organizations: Iterable[Organization],
    *,
    owner_id: str,
    waiting: dict[str, list[ChangeRequest]] | None = None,
    may_open_changes: bool = False,
) -> list[OrganizationRow]:
    # One reverse() for the whole list: every organization's address differs only in its id.
    head = reverse("orgadmin:organization-detail", args=[_ZERO_ID]).removesuffix(f"{_ZERO_ID}/")
    change_head = reverse("orgadmin:change-detail", args=[0]).removesuffix("0/")
    waiting = waiting or {}
    return [
        OrganizationRow(
            url=f"{head}{organization.id}/",
            id=organization.id,
            name=organization.name,
            sso_domain=organization.sso_domain or "—",
            is_owner=organization.id == owner_id,
            has_saml_sso=organization.has_saml_sso,
            has_oidc=organization.has_oidc,
            waiting=changes[0].title if (changes := waiting.get(organization.id)) else "",
            waiting_url=f"{change_head}{changes[0].pk}/" if changes and may_open_changes else "",
        )
        for organization in organizations
    ]
