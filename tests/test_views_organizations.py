"""The organization pages against the sandbox, asserting what reached Polytomic."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, FOREIGN_ID, GLOBEX_ID, INITECH_ID, OWNER_ID, StoredOrganization
from devtools.support import hidden_field

LIST = reverse("orgadmin:organization-list")
CREATE = reverse("orgadmin:organization-create")
SECRET = "typed-secret-9f8e7d"


def edit_url(organization_id: str) -> str:
    return reverse("orgadmin:organization-edit", args=[organization_id])


def detail_url(organization_id: str) -> str:
    return reverse("orgadmin:organization-detail", args=[organization_id])


def delete_url(organization_id: str) -> str:
    return reverse("orgadmin:organization-delete", args=[organization_id])


def received(sandbox, method: str) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == method]


def open_edit_form(client, organization_id: str) -> dict[str, str]:
    """The hidden fields of a freshly opened edit form."""
    page = client.get(edit_url(organization_id)).content.decode()
    return {"form_key": hidden_field(page, "form_key"), "opened": hidden_field(page, "opened")}


def acme_form(**changes) -> dict[str, str]:
    return {"name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"} | changes


def created_anyway(**changes) -> dict[str, str]:
    """The create form with Globex's OIDC, saved whatever its issuer check (the issuer is not
    resolvable here) finds."""
    return globex_form(save_anyway="on", **changes)


def globex_form(**changes) -> dict[str, str]:
    return {
        "name": "Globex",
        "sso_domain": "globex.example",
        "issuer": "https://globex.okta.example",
        "client_id": "0oa-globex-client",
        "client_secret": SECRET,
    } | changes


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def as_editor(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


class ListTests:
    def test_lists_organizations_with_owner_and_sso_state(self, as_viewer):
        response = as_viewer.get(LIST)
        page = response.content.decode()
        assert response.status_code == 200
        assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
        rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", page, flags=re.DOTALL)
        assert len(rows) == 4
        assert "Northwind Partners" in rows[0]
        assert "Owner" in rows[0]
        acme = rows[1]
        assert "acme.example" in acme
        assert acme.count("Configured") == 1  # SAML, not OIDC
        assert rows[2].count("Configured") == 1  # Globex: OIDC
        assert 'href="/organizations/new/"' not in page  # a Viewer cannot create

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("glob", ["Globex"]),
            ("ACME.EXAMPLE", ["Acme Corporation"]),
            (GLOBEX_ID[-6:], ["Globex"]),
            ("nothing-like-it", []),
        ],
    )
    def test_search_by_name_domain_or_id(self, as_viewer, query, expected):
        page = as_viewer.get(LIST, {"q": query}).content.decode()
        assert re.findall(r'<a href="/organizations/[0-9a-f-]+/">([^<]+)</a>', page) == expected
        if not expected:
            assert f"No organization matches “{query}”" in page

    def test_htmx_search_answers_only_the_results(self, as_viewer):
        response = as_viewer.get(LIST, {"q": "acme"}, HTTP_HX_REQUEST="true")
        page = response.content.decode()
        assert page.lstrip().startswith('<section id="organization-results"')
        assert "<html" not in page

    def test_pagination(self, as_viewer, sandbox):
        for number in range(30):
            stored = StoredOrganization(
                id=f"00000000-0000-4000-8000-{number:012d}", partner="partner", name=f"C{number:02d}"
            )
            sandbox.sandbox.organizations[stored.id] = stored
        first = as_viewer.get(LIST).content.decode()
        assert "1–25 of 34" in first
        assert 'href="?page=2"' in first
        second = as_viewer.get(LIST, {"page": 2}).content.decode()
        assert "26–34 of 34" in second
        assert 'rel="prev"' in second

    def test_an_unavailable_polytomic_shows_an_error_with_a_retry(self, as_viewer, sandbox):
        sandbox.sandbox.faults.queue.extend([{"method": "GET", "path": "/api/organizations", "fault": "status:500"}])
        response = as_viewer.get(LIST, {"q": "x"})
        page = response.content.decode()
        assert response.status_code == 200  # Polytomic failed, and the page says so
        assert "Polytomic could not be asked for the organizations" in page
        assert 'href="/organizations/?q=x">Try again' in page
        assert "Sandbox fault" in page  # Polytomic's own message, not a raw body


class DetailTests:
    def test_shows_every_field_and_the_write_only_note(self, as_viewer):
        response = as_viewer.get(detail_url(GLOBEX_ID))
        page = response.content.decode()
        assert response["Cache-Control"].startswith("max-age=0, no-cache, no-store")
        for text in ("Globex", GLOBEX_ID, "globex.example", "https://globex.okta.example"):
            assert text in page
        assert "Polytomic never returns the OIDC client id or secret" in page
        assert "globex-oidc-secret" not in page
        assert ">Edit<" not in page  # Viewer

    def test_the_write_only_note_speaks_of_re_entering_only_where_there_is_oidc(self, as_viewer):
        """A Viewer of an organization without OIDC is not told the edit form asks for its
        credentials: there are none to send."""

        def note(organization_id: str) -> str:
            page = as_viewer.get(detail_url(organization_id)).content.decode()
            return re.search(r"<p class=\"note\" data-write-only>(.*?)</p>", page, re.S)[1]

        assert note(ACME_ID) == "Polytomic never returns the OIDC client id or secret: they are write-only."
        assert "the edit form asks for them" in note(GLOBEX_ID)

    def test_recent_activity_shows_the_changes_not_the_views(self, as_editor):
        as_editor.get(detail_url(ACME_ID))
        response = as_editor.post(edit_url(ACME_ID), acme_form(name="Acme Corp") | open_edit_form(as_editor, ACME_ID))
        assert response.status_code == 302
        as_editor.get(detail_url(ACME_ID))
        page = as_editor.get(detail_url(ACME_ID)).content.decode()
        activity = page[page.index('id="audit-heading"') :]
        assert activity.count("Update organization") == 1  # the rename, among views before and after it
        assert "View organization" not in activity
        assert AuditEntry.objects.filter(organization_id=ACME_ID, action=AuditEntry.Action.GET).count() >= 3

    def test_see_all_leads_to_the_organizations_audit_log_for_those_who_may_open_it(
        self, client, viewer, editor, admin_user
    ):
        see_all = f'href="{reverse("orgadmin:audit-list")}?organization={ACME_ID}">See all</a>'
        for user, shown in ((viewer, False), (editor, False), (admin_user, True)):
            client.force_login(user)
            assert (see_all in client.get(detail_url(ACME_ID)).content.decode()) is shown, user.username
        # What it leads to: the organization's changes, the default view of the audit log.
        client.post(edit_url(ACME_ID), acme_form(name="Acme Corp") | open_edit_form(client, ACME_ID))
        page = client.get(f"{reverse('orgadmin:audit-list')}?organization={ACME_ID}").content.decode()
        table = page.split("<tbody>")[1]
        assert "Update organization" in table
        assert "View organization" not in table

    def test_the_owner_has_no_delete_button(self, as_admin):
        assert ">Delete<" not in as_admin.get(detail_url(OWNER_ID)).content.decode()
        assert ">Delete<" in as_admin.get(detail_url(ACME_ID)).content.decode()

    def test_an_unknown_organization_leads_back_to_the_list(self, as_viewer):
        response = as_viewer.get(detail_url("00000000-0000-4000-8000-00000000dead"), follow=True)
        assert response.redirect_chain[-1][0] == LIST
        assert "does not exist at Polytomic" in response.content.decode()

    def test_a_foreign_organization_is_a_clear_message(self, as_viewer):
        response = as_viewer.get(detail_url(FOREIGN_ID))
        assert response.status_code == 200  # Polytomic refused the partner key this organization
        assert "belongs to another partner" in response.content.decode()


class CreateTests:
    def test_form_fields_are_named_as_in_the_api(self, as_editor):
        page = as_editor.get(CREATE).content.decode()
        for name in ("name", "sso_domain", "sso_org_id", "issuer", "client_id", "client_secret"):
            assert f'name="{name}"' in page
        assert "<legend>SAML SSO</legend>" in page
        assert "<legend>OIDC</legend>" in page
        assert 'type="password" name="client_secret"' in page

    def test_create_with_oidc_sends_the_whole_block(self, as_editor, sandbox):
        form_key = hidden_field(as_editor.get(CREATE).content.decode(), "form_key")
        response = as_editor.post(CREATE, created_anyway(name="Hooli", sso_domain="hooli.example", form_key=form_key))
        created = next(o for o in sandbox.sandbox.organizations.values() if o.name == "Hooli")
        assert response.status_code == 302
        assert response["Location"] == detail_url(created.id)
        assert received(sandbox, "POST")[0]["body"] == {  # the blank sso_org_id left out
            "name": "Hooli",
            "sso_domain": "hooli.example",
            "issuer": "https://globex.okta.example",
            "client_id": "0oa-globex-client",
            "client_secret": SECRET,
        }
        assert received(sandbox, "POST")[0]["headers"]["idempotency-key"].startswith(form_key + "-")

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            ({"name": "  "}, {"name"}),
            ({"name": "X", "issuer": "http://x.okta.example", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "issuer": "javascript:alert(1)", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "issuer": "https://u:p@x.example", "client_id": "c", "client_secret": "s"}, {"issuer"}),
            ({"name": "X", "sso_domain": "https://x.example"}, {"sso_domain"}),
            ({"name": "X", "issuer": "https://x.okta.example"}, {"client_id", "client_secret"}),
            ({"name": "X", "client_secret": "s"}, {"issuer", "client_id"}),
            ({"name": "X\x00"}, {"name"}),
        ],
    )
    def test_invalid_input_never_reaches_polytomic(self, as_editor, sandbox, fields, errors):
        response = as_editor.post(CREATE, {"form_key": "a" * 32} | fields)
        assert response.status_code == 422
        assert set(response.context["form"].errors) == errors
        assert sandbox.sandbox.received == []

    def test_a_taken_name_lands_on_the_name_field_keeping_input(self, as_editor):
        response = as_editor.post(CREATE, created_anyway(name="acme corporation", form_key="b" * 32))
        page = response.content.decode()
        assert response.status_code == 422
        assert response.context["form"].errors["name"] == [
            "An organization with this name already exists.",
            f'It is the name of <a href="/organizations/{ACME_ID}/">Acme Corporation</a>.',
        ]
        assert 'value="https://globex.okta.example"' in page
        assert SECRET not in page

    def test_an_upstream_failure_is_shown_above_the_form_keeping_input(self, as_editor, sandbox):
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "status:503"})
        response = as_editor.post(CREATE, created_anyway(name="Hooli", form_key="c" * 32))
        page = response.content.decode()
        assert response.status_code == 200
        assert "Polytomic is not able to answer right now (HTTP 503)" in page
        assert 'value="Hooli"' in page
        assert SECRET not in page

    def test_htmx_submission_swaps_the_form_or_redirects(self, as_editor, sandbox):
        invalid = as_editor.post(CREATE, {"name": "", "form_key": "d" * 32}, HTTP_HX_REQUEST="true")
        assert invalid.status_code == 422
        assert invalid.content.decode().startswith('<form id="organization-form"')
        valid = as_editor.post(CREATE, {"name": "Hooli", "form_key": "d" * 32}, HTTP_HX_REQUEST="true")
        assert valid.status_code == 200
        assert valid["HX-Redirect"].startswith("/organizations/")

    def test_a_create_whose_answer_was_lost_is_not_made_twice(self, as_editor, sandbox):
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": "/api/organizations", "fault": "drop"})
        data = {"name": "Once Only", "form_key": "e" * 32}
        lost = as_editor.post(CREATE, data)
        assert lost.status_code == 302  # a read found it made (tests/test_outcomes.py)
        assert as_editor.post(CREATE, data).status_code == 302
        assert [o.name for o in sandbox.sandbox.organizations.values()].count("Once Only") == 1

    def test_a_corrected_submission_is_not_refused_by_an_earlier_answer(self, as_editor, sandbox):
        first = as_editor.post(CREATE, {"name": "Globex", "form_key": "f" * 32})
        assert first.status_code == 422
        assert as_editor.post(CREATE, {"name": "Globex Two", "form_key": "f" * 32}).status_code == 302

    @pytest.mark.parametrize("form_key", ["éééééééééé", "٣٣٣٣٣٣٣٣٣٣", "short"])
    def test_a_damaged_form_key_is_said_and_nothing_is_sent(self, as_editor, sandbox, form_key):
        response = as_editor.post(CREATE, {"name": "Keyed Co", "form_key": form_key})
        assert response.status_code == 422
        assert "This form is damaged: reload the page." in response.content.decode()
        assert 'value="Keyed Co"' in response.content.decode()
        assert received(sandbox, "POST") == []

    def test_viewer_cannot_create(self, as_viewer, sandbox):
        assert as_viewer.get(CREATE).status_code == 403
        assert as_viewer.post(CREATE, {"name": "X", "form_key": "g" * 32}).status_code == 403
        assert received(sandbox, "POST") == []


class EditTests:
    def test_form_is_filled_from_a_fresh_read_without_the_secret(self, as_editor, sandbox):
        page = as_editor.get(edit_url(GLOBEX_ID)).content.decode()
        assert 'value="https://globex.okta.example"' in page
        assert "globex-oidc-secret" not in page
        assert "never returns the client id or secret" in page
        assert received(sandbox, "GET")[-1]["path"] == f"/api/organizations/{GLOBEX_ID}"

    def test_a_rename_sends_the_whole_block(self, as_editor, sandbox):
        response = as_editor.post(edit_url(ACME_ID), acme_form(name="Acme Corp") | open_edit_form(as_editor, ACME_ID))
        assert response.status_code == 302
        # The whole configuration, as the SDKs send it: what is blank is left out, and so cleared.
        assert received(sandbox, "PUT")[0]["body"] == {
            "name": "Acme Corp",
            "sso_domain": "acme.example",
            "sso_org_id": "org_01ACME",
        }

    def test_saving_oidc_without_the_secret_is_stopped(self, as_editor, sandbox):
        form = globex_form(name="Globex Inc", client_secret="") | open_edit_form(as_editor, GLOBEX_ID)
        response = as_editor.post(edit_url(GLOBEX_ID), form)
        assert response.status_code == 422
        assert "Enter it again to keep OIDC" in response.context["form"].errors["client_secret"][0]
        # The rule itself is said once, at the top of the OIDC section, not on every field.
        assert response.content.decode().count("must be entered again to keep OIDC working") == 1
        assert received(sandbox, "PUT") == []

    def test_a_rename_keeping_oidc_resends_the_credentials(self, as_editor, sandbox):
        form = globex_form(name="Globex Inc") | open_edit_form(as_editor, GLOBEX_ID)
        assert as_editor.post(edit_url(GLOBEX_ID), form).status_code == 302
        assert received(sandbox, "PUT")[0]["body"]["client_secret"] == SECRET
        assert sandbox.sandbox.organizations[GLOBEX_ID].issuer == "https://globex.okta.example"

    def test_the_client_id_last_sent_is_prefilled_and_dated(self, as_editor):
        form = globex_form(client_id="remembered-client") | open_edit_form(as_editor, GLOBEX_ID)
        as_editor.post(edit_url(GLOBEX_ID), form)
        page = as_editor.get(edit_url(GLOBEX_ID)).content.decode()
        assert 'name="client_id" value="remembered-client"' in page
        assert "The client id below is the one this portal sent on" in page

    def test_removing_oidc_needs_the_choice_and_a_confirmation(self, as_editor, sandbox):
        opened = open_edit_form(as_editor, GLOBEX_ID)
        emptied = globex_form(issuer="", client_id="", client_secret="") | opened
        assert as_editor.post(edit_url(GLOBEX_ID), emptied).status_code == 422  # an empty field is not a choice

        chosen = as_editor.post(edit_url(GLOBEX_ID), emptied | {"remove_oidc": "on"})
        page = chosen.content.decode()
        assert chosen.status_code == 200  # held for confirmation: nothing to correct
        assert "OIDC will be removed" in page
        assert "Confirm and save" in page
        assert received(sandbox, "PUT") == []

        confirmed = as_editor.post(
            edit_url(GLOBEX_ID), emptied | {"remove_oidc": "on", "confirm": hidden_field(page, "confirm")}
        )
        assert confirmed.status_code == 302
        body = received(sandbox, "PUT")[0]["body"]
        assert body.keys().isdisjoint({"issuer", "client_id", "client_secret"})
        assert body["sso_domain"] == "globex.example"

    def test_removing_saml_is_a_choice_not_an_empty_field(self, as_editor, sandbox):
        opened = open_edit_form(as_editor, ACME_ID)
        response = as_editor.post(edit_url(ACME_ID), acme_form(sso_org_id="") | opened)
        assert response.status_code == 422
        assert "choose “Remove SAML SSO”" in response.context["form"].errors["sso_org_id"][0]
        chosen = as_editor.post(edit_url(ACME_ID), acme_form() | opened | {"remove_saml": "on"})
        assert "SAML SSO will be removed" in chosen.content.decode()
        confirmed = as_editor.post(
            edit_url(ACME_ID),
            acme_form() | opened | {"remove_saml": "on", "confirm": hidden_field(chosen.content.decode(), "confirm")},
        )
        assert confirmed.status_code == 302
        assert "sso_org_id" not in received(sandbox, "PUT")[0]["body"]

    def test_a_changed_domain_is_summarised_before_saving(self, as_editor, sandbox):
        opened = open_edit_form(as_editor, ACME_ID)
        asked = as_editor.post(edit_url(ACME_ID), acme_form(sso_domain="acme.test") | opened)
        page = asked.content.decode()
        assert "SSO domain: “acme.example” → “acme.test”" in page
        assert received(sandbox, "PUT") == []
        # A confirmation given for other changes does not count.
        other = as_editor.post(
            edit_url(ACME_ID), acme_form(sso_domain="acme.other") | opened | {"confirm": hidden_field(page, "confirm")}
        )
        assert other.status_code == 200
        assert "“acme.example” → “acme.other”" in other.content.decode()  # asked again, for these
        assert received(sandbox, "PUT") == []
        saved = as_editor.post(
            edit_url(ACME_ID), acme_form(sso_domain="acme.test") | opened | {"confirm": hidden_field(page, "confirm")}
        )
        assert saved.status_code == 302
        assert received(sandbox, "PUT")[0]["body"]["sso_domain"] == "acme.test"

    def test_a_change_made_meanwhile_is_shown_not_overwritten(self, as_editor, sandbox):
        opened = open_edit_form(as_editor, ACME_ID)
        sandbox.sandbox.organizations[ACME_ID].sso_org_id = "org_CHANGED_ELSEWHERE"
        response = as_editor.post(edit_url(ACME_ID), acme_form(name="Acme Renamed") | opened)
        page = response.content.decode()
        assert response.status_code == 200
        assert "Someone changed this organization at Polytomic since you opened this form" in page
        assert "SSO organization id: “org_01ACME” → “org_CHANGED_ELSEWHERE”" in page
        assert received(sandbox, "PUT") == []
        again = {
            "opened": hidden_field(page, "opened"),
            "confirm": hidden_field(page, "confirm"),
            "form_key": opened["form_key"],
        }
        assert as_editor.post(edit_url(ACME_ID), acme_form(name="Acme Renamed") | again).status_code == 302
        assert received(sandbox, "PUT")[0]["body"]["sso_org_id"] == "org_01ACME"  # what the operator saw and confirmed

    def test_an_upstream_failure_keeps_the_input(self, as_editor, sandbox):
        sandbox.sandbox.faults.queue.append(
            {"method": "PUT", "path": f"/api/organizations/{ACME_ID}", "fault": "status:500"}
        )
        response = as_editor.post(edit_url(ACME_ID), acme_form(name="Acme New") | open_edit_form(as_editor, ACME_ID))
        page = response.content.decode()
        assert response.status_code == 200
        assert "Polytomic is not able to answer right now" in page
        assert 'value="Acme New"' in page

    def test_a_failed_read_before_saving_keeps_the_input(self, as_editor, sandbox):
        opened = open_edit_form(as_editor, GLOBEX_ID)
        sandbox.sandbox.faults.queue.append(
            {"method": "GET", "path": f"/api/organizations/{GLOBEX_ID}", "fault": "status:500"}
        )
        response = as_editor.post(edit_url(GLOBEX_ID), globex_form(name="Globex Typed") | opened)
        page = response.content.decode()
        assert response.status_code == 200
        assert "Nothing was saved: the current settings could not be read first." in page
        assert 'value="Globex Typed"' in page
        assert SECRET not in page
        assert received(sandbox, "PUT") == []

    def test_a_tampered_form_is_refused(self, as_editor, sandbox):
        response = as_editor.post(edit_url(ACME_ID), acme_form() | {"form_key": "k" * 32, "opened": "forged"})
        assert response.status_code == 422
        assert received(sandbox, "PUT") == []

    @pytest.mark.parametrize("form_key", ["éééééééééé", "ab-cd_ef12", "short", "k" * 65, ""])
    def test_a_damaged_form_key_is_said_and_nothing_is_sent(self, as_editor, sandbox, form_key):
        """Letters outside ASCII pass str.isalnum() but make no Idempotency-Key Polytomic accepts."""
        opened = open_edit_form(as_editor, ACME_ID) | {"form_key": form_key}
        response = as_editor.post(edit_url(ACME_ID), acme_form(name="Acme Renamed") | opened)
        assert response.status_code == 422
        assert "This form is damaged: reload the page." in response.content.decode()
        assert 'value="Acme Renamed"' in response.content.decode()
        assert received(sandbox, "PUT") == []

    def test_viewer_cannot_edit(self, as_viewer, sandbox):
        assert as_viewer.get(edit_url(ACME_ID)).status_code == 403
        assert as_viewer.post(edit_url(ACME_ID), acme_form()).status_code == 403
        assert received(sandbox, "PUT") == []


class DeleteTests:
    def test_delete_needs_the_typed_name(self, as_admin, sandbox):
        wrong = as_admin.post(delete_url(ACME_ID), {"confirm_name": "acme corporation"})
        assert wrong.status_code == 422
        assert received(sandbox, "DELETE") == []
        right = as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"}, follow=True)
        assert right.redirect_chain[-1][0] == LIST
        assert "Deleted Acme Corporation." in right.content.decode()
        assert len(received(sandbox, "DELETE")) == 1
        assert ACME_ID not in sandbox.sandbox.organizations
        assert AuditEntry.objects.filter(action="organization.delete", outcome="ok").count() == 1

    def test_a_delete_of_an_organization_changed_since_the_page_was_opened_waits_for_a_second_look(
        self, as_admin, sandbox
    ):
        opened = hidden_field(as_admin.get(delete_url(ACME_ID)).content.decode(), "opened")
        sandbox.sandbox.organizations[ACME_ID].sso_org_id = "org_CHANGED_ELSEWHERE"
        held = as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation", "opened": opened})
        page = held.content.decode()
        assert held.status_code == 422
        assert "Someone changed this organization at Polytomic since you opened this page" in page
        assert "SSO organization id: “org_01ACME” → “org_CHANGED_ELSEWHERE”" in page
        assert received(sandbox, "DELETE") == []
        again = {"confirm_name": "Acme Corporation", "opened": hidden_field(page, "opened")}
        assert as_admin.post(delete_url(ACME_ID), again).status_code == 302
        assert len(received(sandbox, "DELETE")) == 1

    def test_a_delete_carries_no_idempotency_key(self, as_admin, sandbox):
        """Polytomic's idempotency guide sets none on DELETE: a repeated delete answers 404, which
        reads as "already deleted". (With one, a reused key was answered with another
        organization's delete, which never happened.)"""
        as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"})
        as_admin.post(delete_url(INITECH_ID), {"confirm_name": "Initech"})
        assert [r["headers"].get("idempotency-key") for r in received(sandbox, "DELETE")] == [None, None]
        assert ACME_ID not in sandbox.sandbox.organizations
        assert INITECH_ID not in sandbox.sandbox.organizations
        again = as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"}, follow=True)
        assert "already deleted" in again.content.decode()

    def test_the_owner_cannot_be_deleted(self, as_admin, sandbox):
        page = as_admin.get(delete_url(OWNER_ID)).content.decode()
        assert "This organization cannot be deleted" in page
        assert 'name="confirm_name"' not in page
        response = as_admin.post(delete_url(OWNER_ID), {"confirm_name": "Northwind Partners"})
        assert response.status_code == 403
        assert "Polytomic does not allow deleting it" in response.content.decode()
        assert received(sandbox, "DELETE") == []

    def test_an_already_deleted_organization_says_so(self, as_admin, sandbox):
        del sandbox.sandbox.organizations[ACME_ID]
        response = as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"}, follow=True)
        assert "already deleted" in response.content.decode()

    def test_a_404_to_the_delete_of_an_organization_still_there_is_not_called_deleted(self, as_admin, sandbox):
        """A 404 is "already deleted" only once a fresh read finds the organization gone too."""
        sandbox.sandbox.faults.queue.append(
            {"method": "DELETE", "path": f"/api/organizations/{ACME_ID}", "fault": "status:404"}
        )
        response = as_admin.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"}, follow=True)
        page = response.content.decode()
        assert "already deleted" not in page
        assert "yet still has the organization: nothing was deleted" in page
        assert ACME_ID in sandbox.sandbox.organizations

    @pytest.mark.parametrize("role_fixture", ["as_viewer", "as_editor"])
    def test_only_admins_delete(self, request, db, role_fixture, sandbox):
        client = request.getfixturevalue(role_fixture)
        assert client.get(delete_url(ACME_ID)).status_code == 403
        assert client.post(delete_url(ACME_ID), {"confirm_name": "Acme Corporation"}).status_code == 403
        assert received(sandbox, "DELETE") == []


class QueryCountTests:
    """A page's database queries stay few and do not grow with the audit log or with the number of
    organizations: the session, the user, their permissions, the audit entry of each call, and
    what the page itself reads. Inside a test's transaction an audit entry takes a savepoint, the
    chain lock (on PostgreSQL), the last hash, the insert and the release, which the bounds below
    allow; outside one, as when serving, it is two round trips on PostgreSQL (test_audit_chain)."""

    def add_organizations(self, sandbox, count: int) -> None:
        for n in range(count):
            stored = StoredOrganization(id=f"00000000-0000-4000-8000-{n:012d}", partner="partner", name=f"Org {n}")
            sandbox.sandbox.organizations[stored.id] = stored

    def test_detail_page(self, as_admin, django_assert_num_queries, django_assert_max_num_queries):
        as_admin.get(detail_url(ACME_ID))  # warms the session and the owner id
        # + the last client id sent, the recent entries (recorded, and writes in flight), what the
        # portal last saw of it and the newest change made outside the portal
        # (an entry's chain lock is one more query on PostgreSQL)
        with django_assert_max_num_queries(13 if connection.vendor == "sqlite" else 14) as few:
            assert as_admin.get(detail_url(ACME_ID)).status_code == 200
        counted = len(few.captured_queries)  # read now: the next request clears the log
        for _ in range(30):
            as_admin.get(detail_url(ACME_ID))  # thirty more audit entries for Acme
        with django_assert_num_queries(counted):
            assert as_admin.get(detail_url(ACME_ID)).status_code == 200

    @pytest.mark.parametrize("url", [detail_url, edit_url])
    def test_the_last_client_id_sent_is_looked_up_only_where_oidc_is_set(self, as_admin, url):
        """Only an organization with OIDC shows or compares its client id: for one without, the
        page reads no write's body from the audit log."""

        def bodies_read(organization_id: str) -> list[str]:
            as_admin.get(url(organization_id))  # warm
            with CaptureQueriesContext(connection) as queries:
                assert as_admin.get(url(organization_id)).status_code == 200
            selects = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT")]
            # (The newest change made outside the portal is read for its fields' names, not a write's body.)
            return [sql for sql in selects if "request_body" in sql.split("FROM")[0] and "external_change" not in sql]

        assert bodies_read(ACME_ID) == []  # SAML SSO only
        assert len(bodies_read(GLOBEX_ID)) >= 1  # OIDC

    def test_list_page(self, as_admin, sandbox, django_assert_num_queries, django_assert_max_num_queries):
        as_admin.get(LIST)
        # the read after a look in the shared cache, the waiting change requests of the listed
        # organizations, what the portal last saw of them; an entry's chain lock is one more query on PostgreSQL
        with django_assert_max_num_queries(10 if connection.vendor == "sqlite" else 11) as few:
            assert as_admin.get(LIST).status_code == 200
        self.add_organizations(sandbox, 300)
        with django_assert_num_queries(len(few.captured_queries)):
            assert "Org 299" in as_admin.get(LIST, {"q": "Org 299"}).content.decode()

    def test_edit_submit(self, as_admin, django_assert_max_num_queries):
        fields = open_edit_form(as_admin, ACME_ID)
        # Two calls: the fresh read, with its audit entry, and the write, with its attempt and its
        # outcome; and the last client id sent. (An entry costs 4 queries on SQLite, 5 on PostgreSQL
        # inside the test's transaction: its savepoint, the chain's lock, the last hash, the insert.)
        # On PostgreSQL the organization's write lock is taken and released: 2 queries when serving,
        # 4 inside the test's transaction (with a savepoint around the taking).
        # Also: the shared cache's look before the fresh read, the kept credentials, the waiting requests.
        with django_assert_max_num_queries(19 if connection.vendor == "sqlite" else 25):
            response = as_admin.post(edit_url(ACME_ID), acme_form(name="Acme Renamed") | fields)
        assert response.status_code == 302
