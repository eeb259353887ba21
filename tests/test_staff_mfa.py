"""Local accounts and their second factor (PORTAL_REQUIRE_MFA): enrolment before anything else,
the authenticator app at every sign-in, recovery codes once each, the sign-in throttles of both
factors, and the fresh check before a change that can lock a customer out.

Codes are computed with RFC 6238 written out (tests/support.py), apart from allauth's own implementation."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from cryptography.fernet import InvalidToken
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.support import hidden_fields
from staff.adapters import StaffMFAAdapter
from staff.recent_sign_in import PENDING_KEY
from tests.factories import PASSWORD, make_user
from tests.support import totp

pytestmark = pytest.mark.django_db

PORTAL_PAGES = [
    reverse("orgadmin:organization-list"),
    reverse("orgadmin:organization-detail", args=[ACME_ID]),
    reverse("orgadmin:organization-create"),
    reverse("orgadmin:organization-edit", args=[ACME_ID]),
    reverse("orgadmin:organization-delete", args=[ACME_ID]),
    reverse("orgadmin:audit-list"),
    reverse("orgadmin:audit-export"),
    reverse("orgadmin:audit-organization-names"),
    reverse("staff:staff-list"),
    reverse("account_change_password"),
    "/admin/",
]


@pytest.fixture(autouse=True)
def _mfa_required(settings):
    settings.PORTAL_REQUIRE_MFA = True


def password_sign_in(client, username: str, **extra):
    return client.post(reverse("account_login"), {"login": username, "password": PASSWORD}, **extra)


def enrol_an_authenticator_app(client, username: str) -> tuple[str, list[str]]:
    """Signs in with the password and enrols an app as a new staff member would; the app's secret
    and the recovery codes shown (once)."""
    assert password_sign_in(client, username).status_code == 302
    assert client.get(reverse("orgadmin:organization-list"))["Location"] == reverse("mfa_index")
    asked = client.get(reverse("mfa_activate_totp"))
    assert asked["Location"].startswith(reverse("account_reauthenticate"))  # the password, again
    client.post(asked["Location"], {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp")).content.decode()
    secret = re.search(
        r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"|value="([A-Z2-7]+)"[^>]*id="authenticator_secret"', page
    )
    secret = next(group for group in secret.groups() if group)
    with time_machine.travel(timezone.now(), tick=False):  # the code is checked in the step it was made for
        done = client.post(reverse("mfa_activate_totp"), {"code": totp(secret)})
    assert done.status_code == 302, refusal(done)
    assert done["Location"] == reverse("mfa_view_recovery_codes")
    codes = re.findall(r"\b\d{8}\b", client.get(done["Location"]).content.decode())
    assert len(codes) == 10
    return secret, codes


def refusal(response) -> list[str]:
    """The errors a refused second-factor form shows, for a failed assertion to say."""
    return re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]*)', response.content.decode())


def hidden(response) -> dict[str, str]:
    return hidden_fields(response.content.decode())


class EnrolmentTests:
    @pytest.mark.parametrize("path", PORTAL_PAGES)
    def test_a_local_account_without_a_second_factor_sees_only_its_enrolment(self, client, path):
        make_user("ada", role="Admin", is_staff=True, is_superuser=True)
        password_sign_in(client, "ada")
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_index")
        assert client.get(reverse("mfa_index")).status_code == 200

    def test_the_identity_providers_staff_are_left_to_its_own_second_factor(self, client):
        make_user("ana", role="Viewer")
        client.force_login(make_user("ana-idp", role="Viewer"))
        session = client.session
        session["account_authentication_methods"] = [{"method": "socialaccount", "at": time.time(), "provider": "co"}]
        session.save()
        assert client.get(reverse("orgadmin:organization-list")).status_code == 200

    def test_enrolled_the_app_is_asked_at_every_sign_in_and_recorded(self, client, sandbox):
        make_user("ed", role="Editor")
        secret, _ = enrol_an_authenticator_app(client, "ed")
        assert client.get(reverse("orgadmin:organization-list")).status_code == 200
        client.post(reverse("account_logout"))

        with time_machine.travel(timezone.now() + timedelta(seconds=60), tick=False):  # a code of its own
            signed_in = password_sign_in(client, "ed")
            assert signed_in["Location"] == reverse("mfa_authenticate")
            assert client.get(reverse("orgadmin:organization-list"))["Location"].startswith(reverse("account_login"))
            assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200  # wrong
            assert client.post(reverse("mfa_authenticate"), {"code": totp(secret)}).status_code == 302
            assert client.get(reverse("orgadmin:organization-list")).status_code == 200
        entry = AuditEntry.objects.filter(action="organization.list").latest("id")
        assert (entry.actor_username, entry.actor_signin) == ("ed", "password+totp")
        assert entry.signed_in_with == "Password and an authenticator app"

    def test_recovery_codes_are_shown_once_and_work_once_each(self, client):
        make_user("ed", role="Editor")
        _, codes = enrol_an_authenticator_app(client, "ed")
        assert not re.findall(r"\b\d{8}\b", client.get(reverse("mfa_view_recovery_codes")).content.decode())  # once
        client.post(reverse("account_logout"))

        for code in (codes[0], codes[1]):
            password_sign_in(client, "ed")
            assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
            assert client.get(reverse("orgadmin:organization-list")).status_code == 200
            client.post(reverse("account_logout"))
        password_sign_in(client, "ed")
        refused = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
        assert refused.status_code == 200
        assert "Incorrect code." in refused.content.decode()
        assert client.get(reverse("orgadmin:organization-list")).status_code == 302


class ThrottleTests:
    def test_wrong_codes_pause_the_second_step(self, client):
        make_user("ed", role="Editor")
        secret, _ = enrol_an_authenticator_app(client, "ed")
        client.post(reverse("account_logout"))
        with time_machine.travel(timezone.now() + timedelta(seconds=60), tick=False):
            password_sign_in(client, "ed")
            for _ in range(5):
                client.post(reverse("mfa_authenticate"), {"code": "000000"})
            paused = client.post(reverse("mfa_authenticate"), {"code": totp(secret)})
            assert "Too many failed login attempts" in paused.content.decode()
            assert client.get(reverse("orgadmin:organization-list")).status_code == 302

    def test_failed_passwords_are_counted_once_by_django_axes(self, client, settings):
        """allauth's own count of failed passwords is off: were it on, five failures from one
        address would pause the username at every address, its owner's included."""
        make_user("vera", role="Viewer")
        settings.PORTAL_REQUIRE_MFA = False
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("account_login"), {"login": "vera", "password": "wrong"}, REMOTE_ADDR="203.0.113.5")
        assert password_sign_in(client, "vera", REMOTE_ADDR="203.0.113.5").status_code == 429  # paused there
        assert password_sign_in(client, "vera", REMOTE_ADDR="198.51.100.7").status_code == 302  # not elsewhere


class FreshCheckTests:
    def test_a_change_that_can_lock_out_asks_the_app_again_after_a_while(self, client, sandbox):
        make_user("ada", role="Admin")
        secret, _ = enrol_an_authenticator_app(client, "ada")
        assert client.post(reverse("orgadmin:organization-delete", args=[GLOBEX_ID]), {}).status_code == 422

        later = timezone.now() + timedelta(minutes=11)
        with time_machine.travel(later, tick=False):  # the code stays the one of `later`
            url = reverse("orgadmin:organization-delete", args=[GLOBEX_ID])
            asked = client.post(url, {"confirm_name": "Globex"})
            assert asked.status_code == 200
            assert "Confirm it is you" in asked.content.decode()
            assert GLOBEX_ID in sandbox.sandbox.organizations
            check = re.search(r'href="(/accounts/2fa/reauthenticate/\?next=[^"]+)"', asked.content.decode())[1]
            back = client.post(check.replace("&amp;", "&"), {"code": totp(secret, later.timestamp())})
            assert back["Location"] == f"{url}?resume=1"
            resumed = client.get(back["Location"]).content.decode()
            assert 'value="Globex"' in resumed  # what was typed, kept
            assert client.post(url, {"confirm_name": "Globex"}).status_code == 302
        assert GLOBEX_ID not in sandbox.sandbox.organizations

    def test_the_client_secret_typed_is_not_kept_across_the_check(self, client, sandbox):
        """The organization views name their secret fields to the check, which knows no form of
        its own: the rest of what was typed is kept in the session, the client secret never."""
        make_user("ed", role="Editor")
        enrol_an_authenticator_app(client, "ed")
        url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
        with time_machine.travel(timezone.now() + timedelta(minutes=11)):
            typed = {
                "name": "Globex",
                "sso_domain": "globex.example",
                "issuer": "https://login.globex.example",
                "client_id": "globex-portal",
                "client_secret": "typed-secret-4f2a",
            }
            summary = client.post(url, typed | hidden(client.get(url)))
            asked = client.post(url, typed | hidden(summary))
            assert "Confirm it is you" in asked.content.decode()
            kept = client.session[PENDING_KEY]["data"]
            assert kept["client_id"] == ["globex-portal"]
            assert "client_secret" not in kept
            assert "typed-secret-4f2a" not in json.dumps(dict(client.session))

    def test_removing_oidc_asks_again_and_the_form_comes_back_as_it_was_confirmed(self, client, sandbox):
        make_user("ed", role="Editor")
        secret, _ = enrol_an_authenticator_app(client, "ed")
        url = reverse("orgadmin:organization-edit", args=[GLOBEX_ID])
        later = timezone.now() + timedelta(minutes=11)
        with time_machine.travel(later, tick=False):  # the code stays the one of `later`
            typed = {"name": "Globex Renamed", "sso_domain": "globex.example", "remove_oidc": "on"}
            summary = client.post(url, typed | hidden(client.get(url)))
            assert "OIDC will be removed" in summary.content.decode()
            asked = client.post(url, typed | hidden(summary))
            assert "Confirm it is you" in asked.content.decode()
            assert sandbox.sandbox.organizations[GLOBEX_ID].issuer  # nothing sent
            check = re.search(r'href="(/accounts/2fa/reauthenticate/\?next=[^"]+)"', asked.content.decode())[1]
            checked = client.post(check.replace("&amp;", "&"), {"code": totp(secret, later.timestamp())})
            assert checked.status_code == 302, re.findall(
                r'class="[^"]*error[^"]*"[^>]*>([^<]*)', checked.content.decode()
            )
            resumed = client.get(checked["Location"])
            page = resumed.content.decode()
            assert 'value="Globex Renamed"' in page
            assert re.search(r'name="remove_oidc"[^>]*checked', page)
            assert client.post(url, typed | hidden(resumed)).status_code == 302
        assert (sandbox.sandbox.organizations[GLOBEX_ID].name, sandbox.sandbox.organizations[GLOBEX_ID].issuer) == (
            "Globex Renamed",
            None,
        )

    def test_a_rename_alone_needs_no_check(self, client, sandbox):
        make_user("ed", role="Editor")
        enrol_an_authenticator_app(client, "ed")
        with time_machine.travel(timezone.now() + timedelta(minutes=11)):
            url = reverse("orgadmin:organization-edit", args=[ACME_ID])
            typed = {"name": "Acme Renamed", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
            saved = client.post(url, typed | hidden(client.get(url)))
        assert saved.status_code == 302, saved.content.decode()[:3000]


class SecretTests:
    def test_the_apps_key_is_shown_at_enrolment_alone_and_stored_encrypted(self, client, caplog):
        make_user("ed", role="Editor")
        with caplog.at_level(logging.DEBUG):
            secret, codes = enrol_an_authenticator_app(client, "ed")
            pages = [client.get(path).content.decode() for path in (reverse("mfa_index"), *PORTAL_PAGES[:3])]
        stored = json.dumps(list(Authenticator.objects.values_list("data", flat=True)))
        for value in (secret, *codes):
            assert value not in stored
            assert all(value not in page for page in pages)
            assert value not in caplog.text
            assert not AuditEntry.objects.filter(request_body__icontains=value).exists()
        # What is stored opens with SECRET_KEY, and with it alone.
        totp_data = Authenticator.objects.get(type=Authenticator.Type.TOTP).data
        assert StaffMFAAdapter().decrypt(totp_data["secret"]) == secret

    def test_the_keys_rotate_with_secret_key(self, settings):
        stored = StaffMFAAdapter().encrypt("JBSWY3DPEHPK3PXP")
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-abcdefghijklmnopqrstu"
        assert StaffMFAAdapter().decrypt(stored) == "JBSWY3DPEHPK3PXP"
        settings.SECRET_KEY_FALLBACKS = []
        with pytest.raises(InvalidToken):
            StaffMFAAdapter().decrypt(stored)


def test_a_staff_member_of_the_identity_provider_has_no_password_here(client, settings):
    settings.PORTAL_REQUIRE_MFA = False
    user = make_user("ana", role="Viewer")
    user.set_unusable_password()
    user.save()
    client.force_login(user)
    page = client.get(reverse("account_change_password"))
    assert page.status_code == 200
    assert "so the portal holds no password of yours" in page.content.decode()


def test_local_sign_in_turned_off_offers_the_identity_provider_alone(client, settings):
    settings.SOCIALACCOUNT_ONLY = True  # what PORTAL_LOCAL_SIGNIN=false sets
    make_user("ed", role="Editor")
    page = client.get(reverse("account_login")).content.decode()
    assert 'name="password"' not in page
    assert client.post(reverse("account_login"), {"login": "ed", "password": PASSWORD}).status_code == 403
    assert client.get(reverse("orgadmin:organization-list")).status_code == 302
