"""The organization tables' rows: what each cell shows and where each link goes."""

from __future__ import annotations

from django.test import SimpleTestCase
from django.urls import resolve

from orgadmin.organizations.rows import organization_rows
from orgadmin.polytomic.fields import Organization

ORG_ID = "7a1f0c2e-0000-4000-8000-000000000002"


class OrganizationRowTests(SimpleTestCase):
    def test_rows_link_to_each_organization_and_mark_the_owner(self):
        owner = Organization(id=ORG_ID, name="Northwind")
        other = Organization(id="0b0b0b0b-0000-4000-8000-00000000000f", name="Globex", sso_domain="globex.example",
                             sso_org_id="org_1", issuer="https://globex.example")  # fmt: skip
        rows = organization_rows([owner, other], owner_id=ORG_ID)
        assert [row.is_owner for row in rows] == [True, False]
        assert [str(resolve(row.url).kwargs["organization_id"]) for row in rows] == [owner.id, other.id]
        assert (rows[0].sso_domain, rows[1].sso_domain) == ("—", "globex.example")
        assert [(row.has_saml_sso, row.has_oidc) for row in rows] == [(False, False), (True, True)]
