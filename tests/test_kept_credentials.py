"""Kept OIDC credentials (README, "Kept OIDC credentials"): kept encrypted by choice, never shown,
resent byte for byte, replaced, erased with OIDC or the organization, refused without a key, said
in the change summary and the audit entry, re-encrypted by a key rotation; and the fingerprint of
the last secret sent, which tells "unchanged" from "replaced" without revealing it."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from devtools.sandbox import GLOBEX_ID
from devtools.support import hidden_fields
from orgadmin.models import ChangeRequest, OidcCredentials, Onboarding
from orgadmin.organizations import credentials
from orgadmin.polytomic.fields import OrganizationInput
from tests.factories import make_user
from tests.test_views_organizations import delete_url, detail_url, edit_url, received

SECRET = "kept-secret-KEEPCHECK-4x8z"
CLIENT_ID = "0oa-kept-client"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    settings.PORTAL_OIDC_CREDENTIALS_KEYS = [NEW_KEY]
    return settings


@pytest.fixture
def as_editor(client, editor):
    client.force_login(editor)
    return client


def globex(**changes) -> dict[str, str]:
    return {
        "name": "Globex",
        "sso_domain": "globex.example",
        "issuer": "https://globex.okta.example",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    } | changes


def save(client, form: dict[str, str]):
    """Posts the edit form as opened now, and confirms the summary when one is asked for."""
    url = edit_url(GLOBEX_ID)
    response = client.post(url, form | hidden_fields(client.get(url).content.decode()))
    if response.status_code == 200:
        response = client.post(url, form | hidden_fields(response.content.decode()))
    return response


def kept_values() -> dict[str, str]:
    row = OidcCredentials.objects.get(organization_id=GLOBEX_ID)
    return json.loads(Fernet(NEW_KEY).decrypt(row.kept.encode()))


def puts(sandbox) -> list[dict]:
    return [request["body"] for request in received(sandbox, "PUT")]


class KeepingTests:
    def test_kept_by_choice_encrypted_and_shown_only_as_kept(self, as_editor, sandbox, keys):
        assert save(as_editor, globex(keep_credentials="on")).status_code == 302
        row = OidcCredentials.objects.get(organization_id=GLOBEX_ID)
        assert SECRET not in json.dumps(list(OidcCredentials.objects.values()), default=str)
        assert kept_values() == {"client_id": CLIENT_ID, "client_secret": SECRET}
        assert row.kept_by == "ed"
        page = as_editor.get(detail_url(GLOBEX_ID)).content.decode()
        assert "kept since" in page
        assert "by ed" in page
        assert SECRET not in page
        assert SECRET not in as_editor.get(edit_url(GLOBEX_ID)).content.decode()

    def test_not_kept_unless_chosen(self, as_editor, sandbox, keys):
        assert save(as_editor, globex()).status_code == 302
        assert credentials.kept_credentials(GLOBEX_ID) is None
        assert ">not kept<" in as_editor.get(detail_url(GLOBEX_ID)).content.decode()

    def test_a_rename_resends_them_byte_for_byte_saying_so(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        url = edit_url(GLOBEX_ID)
        rename = globex(name="Globex Inc", client_id="", client_secret="")
        summary = as_editor.post(url, rename | hidden_fields(as_editor.get(url).content.decode()))
        page = summary.content.decode()
        assert summary.status_code == 200  # confirmed first: it overwrites what changed elsewhere since
        assert "client secret: resent as kept on" in page
        assert "changed outside this portal since then would be overwritten" in page
        assert len(puts(sandbox)) == 1
        assert as_editor.post(url, rename | hidden_fields(page)).status_code == 302
        sent = puts(sandbox)[-1]
        assert (sent["name"], sent["client_id"], sent["client_secret"]) == ("Globex Inc", CLIENT_ID, SECRET)
        attempt = AuditEntry.objects.filter(action="organization.update", phase="attempt").latest("id")
        assert attempt.request_body["client_secret"].startswith("[set] resent as kept on ")
        assert SECRET not in json.dumps(attempt.request_body)

    def test_another_client_id_needs_its_own_secret(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        response = save(as_editor, globex(client_id="0oa-other", client_secret=""))
        assert response.status_code == 422
        assert "A client id other than the kept one needs its own secret" in response.content.decode()
        assert len(puts(sandbox)) == 1

    def test_new_ones_entered_replace_them_or_erase_them(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        save(as_editor, globex(client_secret="second-secret", keep_credentials="on"))
        assert kept_values()["client_secret"] == "second-secret"
        save(as_editor, globex(client_secret="third-secret"))  # entered, not kept: the old ones are stale
        assert credentials.kept_credentials(GLOBEX_ID) is None

    def test_erased_when_oidc_is_removed(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        form = globex(issuer="", client_id="", client_secret="", remove_oidc="on")
        assert save(as_editor, form).status_code == 302
        assert not OidcCredentials.objects.filter(organization_id=GLOBEX_ID).exists()

    def test_erased_when_the_organization_is_deleted(self, client, admin_user, sandbox, keys):
        client.force_login(admin_user)
        save(client, globex(keep_credentials="on"))
        assert client.post(delete_url(GLOBEX_ID), {"confirm_name": "Globex"}).status_code == 302
        assert not OidcCredentials.objects.filter(organization_id=GLOBEX_ID).exists()

    def test_kept_from_the_create_form(self, as_editor, sandbox, keys):
        page = as_editor.get("/organizations/new/").content.decode()
        form = {"name": "Newco", "issuer": "https://newco.okta.example", "client_id": "nc", "client_secret": SECRET}
        # The issuer (not resolvable here) fails the form's check: saved anyway.
        kept = {"keep_credentials": "on", "save_anyway": "on"}
        response = as_editor.post("/organizations/new/", form | hidden_fields(page) | kept)
        assert response.status_code == 302
        row = OidcCredentials.objects.get()
        assert json.loads(Fernet(NEW_KEY).decrypt(row.kept.encode()))["client_secret"] == SECRET


class WithoutAKeyTests:
    def test_the_form_says_it_is_off_and_keeps_nothing(self, as_editor, sandbox, settings):
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = []
        page = as_editor.get(edit_url(GLOBEX_ID)).content.decode()
        assert "Keeping credentials is off" in page
        assert save(as_editor, globex(keep_credentials="on")).status_code == 302
        assert credentials.kept_credentials(GLOBEX_ID) is None
        assert OidcCredentials.objects.get(organization_id=GLOBEX_ID).secret_fingerprint  # kept or not

    def test_the_service_refuses(self, db, settings):
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = []
        data = OrganizationInput(name="Globex", issuer="https://x.example", client_id="c", client_secret=SECRET)
        with pytest.raises(credentials.KeepingIsOff):
            credentials.credentials_sent(organization_id=GLOBEX_ID, data=data, keep=True, resent=False, by="ed")
        assert not OidcCredentials.objects.exists()

    def test_the_rule_is_said_once_at_the_top_of_the_oidc_section(self, as_editor, sandbox, settings):
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = []
        response = save(as_editor, globex(name="Globex Inc", client_secret=""))
        assert response.status_code == 422
        assert response.content.decode().count("never returns the client id or secret") == 1


class FingerprintTests:
    def test_tells_unchanged_from_replaced_without_revealing_it(self, as_editor, sandbox):
        save(as_editor, globex())
        stored = OidcCredentials.objects.get(organization_id=GLOBEX_ID).secret_fingerprint
        assert SECRET not in stored
        assert hashlib.sha256(SECRET.encode()).hexdigest() != stored
        same = OrganizationInput(**globex())
        other = OrganizationInput(**globex(client_secret="another"))
        assert credentials.secret_note(GLOBEX_ID, same) == "unchanged"
        assert credentials.secret_note(GLOBEX_ID, other) == "replaced"

    def test_the_summary_and_the_entry_say_it(self, as_editor, sandbox):
        save(as_editor, globex())
        url = edit_url(GLOBEX_ID)
        form = globex(issuer="https://moved.okta.example", client_secret="another")
        summary = as_editor.post(url, form | hidden_fields(as_editor.get(url).content.decode()))
        assert "(client secret: replaced)" in summary.content.decode()
        save(as_editor, globex())
        attempt = AuditEntry.objects.filter(action="organization.update", phase="attempt").latest("id")
        assert attempt.request_body["client_secret"] == "[set] unchanged"


class RotationTests:
    def test_the_command_re_encrypts_under_the_newest_key(self, db, settings, capsys):
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = [OLD_KEY]
        data = OrganizationInput(name="G", issuer="https://x.example", client_id=CLIENT_ID, client_secret=SECRET)
        credentials.credentials_sent(organization_id=GLOBEX_ID, data=data, keep=True, resent=False, by="ed")
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = [NEW_KEY, OLD_KEY]
        call_command("rekey_oidc_credentials")
        assert "Re-encrypted 1" in capsys.readouterr().out
        token = OidcCredentials.objects.get().kept.encode()
        assert json.loads(Fernet(NEW_KEY).decrypt(token))["client_secret"] == SECRET
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY).decrypt(token)

    def test_without_a_key_the_command_fails(self, db, settings):
        settings.PORTAL_OIDC_CREDENTIALS_KEYS = []
        with pytest.raises(CommandError, match="Keeping credentials is off"):
            call_command("rekey_oidc_credentials")


class QueryCountTests:
    def test_the_organization_page_with_credentials_kept(self, as_editor, sandbox, keys, django_assert_num_queries):
        """One query says whether they are kept, kept or not; nothing is decrypted for the page."""
        save(as_editor, globex())  # sent once, not kept: the page reads the client id last sent
        as_editor.get(detail_url(GLOBEX_ID))  # warm
        with CaptureQueriesContext(connection) as not_kept:
            assert ">not kept<" in as_editor.get(detail_url(GLOBEX_ID)).content.decode()
        counted = len(not_kept.captured_queries)  # read now: the next request clears the log
        save(as_editor, globex(keep_credentials="on"))
        with django_assert_num_queries(counted) as kept:
            assert "kept since" in as_editor.get(detail_url(GLOBEX_ID)).content.decode()
        reads = [query["sql"] for query in kept.captured_queries if "orgadmin_oidccredentials" in query["sql"]]
        assert len(reads) == 1
        assert '"kept"' not in reads[0].split("FROM")[0]


class ApprovedChangeTests:
    def test_an_approved_change_resends_them_and_keeps_the_choice(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        keys.PORTAL_FOUR_EYES = True
        url = edit_url(GLOBEX_ID)
        moved = globex(issuer="https://moved.okta.example", client_id="", client_secret="", reason="Moved IdP")
        summary = as_editor.post(url, moved | hidden_fields(as_editor.get(url).content.decode()))
        assert "client secret: resent as kept on" in summary.content.decode()
        as_editor.post(url, moved | hidden_fields(summary.content.decode()))
        change = ChangeRequest.objects.get(organization_id=GLOBEX_ID)
        assert change.summary["resends_kept"] is True
        assert "client secret: resent as kept on" in as_editor.get(f"/changes/{change.pk}/").content.decode()
        approver = Client()
        approver.force_login(make_user("approver", role="Admin"))
        approver.post(f"/changes/{change.pk}/decide/", {"decision": "approve"})
        change.refresh_from_db()
        assert change.status == "executed"
        sent = puts(sandbox)[-1]
        assert (sent["issuer"], sent["client_id"], sent["client_secret"]) == (
            "https://moved.okta.example",
            CLIENT_ID,
            SECRET,
        )
        attempt = AuditEntry.objects.filter(action="organization.update", phase="attempt").latest("id")
        assert attempt.request_body["client_secret"].startswith("[set] resent as kept on ")
        assert kept_values()["client_secret"] == SECRET  # still kept

    def test_an_approved_delete_erases_them(self, as_editor, sandbox, keys):
        save(as_editor, globex(keep_credentials="on"))
        keys.PORTAL_FOUR_EYES = True
        admin = Client()
        admin.force_login(make_user("asker", role="Admin"))
        admin.post(delete_url(GLOBEX_ID), {"confirm_name": "Globex", "reason": "Customer left"})
        change = ChangeRequest.objects.get(organization_id=GLOBEX_ID)
        approver = Client()
        approver.force_login(make_user("approver", role="Admin"))
        approver.post(f"/changes/{change.pk}/decide/", {"decision": "approve"})
        change.refresh_from_db()
        assert change.status == "executed"
        assert not OidcCredentials.objects.filter(organization_id=GLOBEX_ID).exists()


class OnboardingTests:
    def test_the_onboarding_keeps_them_by_choice(self, as_editor, sandbox, keys):
        new = as_editor.get("/onboarding/new/").content.decode()
        assert "Keep them, encrypted" in new
        form = {"name": "Onboarded", "issuer": "https://onb.okta.example", "client_id": "onb", "client_secret": SECRET,
                "keep_credentials": "on", "save_anyway": "on"}  # fmt: skip
        as_editor.post("/onboarding/new/", form | hidden_fields(new))
        flow = Onboarding.objects.get()
        assert flow.organization_id
        row = OidcCredentials.objects.get(organization_id=flow.organization_id)
        assert json.loads(Fernet(NEW_KEY).decrypt(row.kept.encode()))["client_secret"] == SECRET
