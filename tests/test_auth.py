"""Sign-in on every page, sign-out by POST, the role matrix, sign-in throttling and session expiry."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import URLPattern, reverse

from tests.factories import PASSWORD, make_user
from tests.support import named_url_patterns

# Pages anyone may open. /healthz is answered by middleware, before URL resolution.
PUBLIC_URL_NAMES = {"account_login", "account_inactive", "socialaccount_login_cancelled"}
# The identity provider's sign-in and its return: public, and not found while none is configured
# (tests/test_staff_oidc.py signs in through one).
IDENTITY_PROVIDER_URL_NAMES = {"openid_connect_login", "openid_connect_callback"}
# A customer's setup pages: open without sign-in, the link's token the credential
# (tests/test_setup_links.py).
SETUP_URL_NAMES = {"setup-page", "setup-check", "setup-script"}

# Values for the URL parameters the project's patterns take.
SAMPLE_KWARGS = {
    "app_label": "auth",
    "object_id": "1",
    "id": "1",
    "entry_id": 1,
    "change_id": 1,
    "flow_id": 1,
    "task_id": 1,
    "content_type_id": "1",
    "url": "anything/",
    "pk": 1,
    "staff_id": 1,
    "user_id": uuid.UUID("00000000-0000-4000-8000-000000000000"),
    "provider_id": "company",
    "organization_id": uuid.UUID("00000000-0000-4000-8000-000000000000"),
    "link_id": 1,
    "token": "t" * 43,
}


def sample_path(name: str, pattern: URLPattern) -> str:
    kwargs = {key: SAMPLE_KWARGS[key] for key in pattern.pattern.regex.groupindex}
    return reverse(name, kwargs=kwargs)


ALL_URLS = sorted({name: sample_path(name, pattern) for name, pattern in named_url_patterns()}.items())


class SignInRequiredTests:
    def test_the_enumeration_sees_the_portal_pages(self):
        names = {name for name, _ in ALL_URLS}
        assert {"orgadmin:organization-list", "orgadmin:audit-list", "account_logout", "admin:index"} <= names

    @pytest.mark.parametrize(
        ("name", "path"),
        [u for u in ALL_URLS if u[0] not in PUBLIC_URL_NAMES | IDENTITY_PROVIDER_URL_NAMES | SETUP_URL_NAMES],
    )
    @pytest.mark.django_db
    def test_anonymous_is_sent_to_sign_in(self, client, name, path):
        response = client.get(path)
        assert response.status_code == 302, name
        login_paths = (reverse("account_login"), reverse("admin:login"))
        assert urlsplit(response["Location"]).path in login_paths, name
        if urlsplit(response["Location"]).path == reverse("admin:login"):  # which sends on to the portal's
            assert urlsplit(client.get(response["Location"])["Location"]).path == reverse("account_login")

    @pytest.mark.parametrize("name", sorted(PUBLIC_URL_NAMES))
    @pytest.mark.django_db
    def test_sign_in_pages_are_public(self, client, name):
        assert client.get(reverse(name)).status_code == 200

    @pytest.mark.django_db
    def test_sign_in_returns_to_the_requested_page(self, client, viewer):
        target = reverse("orgadmin:organization-list")
        response = client.get(target)
        assert response["Location"] == f"{reverse('account_login')}?next={target}"
        response = client.post(f"{reverse('account_login')}?next={target}", {"login": "vera", "password": PASSWORD})
        assert response.status_code == 302
        assert response["Location"] == target

    @pytest.mark.django_db
    def test_wrong_password_is_refused_with_a_form_error(self, client, viewer):
        response = client.post(reverse("account_login"), {"login": "vera", "password": "wrong"})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        assert "The username and/or password you specified are not correct." in response.content.decode()


class SignOutTests:
    def test_sign_out_by_get_only_asks(self, client, viewer):
        """A link cannot sign anyone out: GET shows a form that POSTs."""
        client.force_login(viewer)
        page = client.get(reverse("account_logout"))
        assert page.status_code == 200
        assert 'method="post"' in page.content.decode()
        assert client.get(reverse("orgadmin:organization-list")).status_code == 200

    def test_sign_out_by_post_ends_the_session(self, client, viewer):
        client.force_login(viewer)
        response = client.post(reverse("account_logout"))
        assert response.status_code == 302
        assert response["Location"] == reverse("account_login")
        assert client.get(reverse("orgadmin:organization-list")).status_code == 302


class RoleTests:
    EXPECTED_PERMISSIONS = {
        "Viewer": {"view_organization", "view_users"},
        "Editor": {"view_organization", "add_organization", "change_organization", "view_users", "manage_users"},
        "Admin": {
            "view_users",
            "manage_users",
            "create_api_key",
            "view_organization",
            "add_organization",
            "change_organization",
            "delete_organization",
            "view_audit_log",
            "approve_change_request",
            "end_staff_sessions",
        },
    }

    @pytest.mark.django_db
    @pytest.mark.parametrize("role", ["Viewer", "Editor", "Admin"])
    def test_role_holds_exactly_its_permissions(self, role):
        user = make_user(f"{role.lower()}-user", role=role)
        all_codenames = set().union(*self.EXPECTED_PERMISSIONS.values())
        app = {"end_staff_sessions": "staff"}
        held = {codename for codename in all_codenames if user.has_perm(f"{app.get(codename, 'orgadmin')}.{codename}")}
        assert held == self.EXPECTED_PERMISSIONS[role]
        assert {p.codename for p in Group.objects.get(name=role).permissions.all()} == self.EXPECTED_PERMISSIONS[role]

    @pytest.mark.django_db
    def test_own_and_group_permissions_are_read_in_one_query(self, django_assert_num_queries):
        from django.contrib.auth.models import Permission

        user = make_user("mixed", role="Viewer")
        user.user_permissions.add(Permission.objects.get(codename="view_audit_log"))
        user = type(user).objects.get(pk=user.pk)  # no permission cache
        with django_assert_num_queries(1):
            assert user.get_all_permissions() == {
                "orgadmin.view_organization",
                "orgadmin.view_users",
                "orgadmin.view_audit_log",
            }
            assert user.has_perm("orgadmin.view_audit_log")
            assert not user.has_perm("orgadmin.delete_organization")
        user.is_active = False
        assert user.get_all_permissions() == set()

    @pytest.mark.django_db
    def test_a_superuser_holds_every_permission(self):
        from django.contrib.auth.models import Permission

        superuser = make_user("root", is_superuser=True)
        assert len(superuser.get_all_permissions()) == Permission.objects.count()

    # What each role gets from each page: the server decides, whatever the page shows.
    MATRIX = [
        ("orgadmin:organization-list", {None: 403, "Viewer": 200, "Editor": 200, "Admin": 200}),
        ("orgadmin:audit-list", {None: 403, "Viewer": 403, "Editor": 403, "Admin": 200}),
        ("orgadmin:home", {None: 302, "Viewer": 302, "Editor": 302, "Admin": 302}),
        ("account_change_password", {None: 200, "Viewer": 200, "Editor": 200, "Admin": 200}),
        ("staff:staff-list", {None: 403, "Viewer": 403, "Editor": 403, "Admin": 200}),
        ("admin:index", {None: 302, "Viewer": 302, "Editor": 302, "Admin": 302}),
    ]

    @pytest.mark.django_db
    @pytest.mark.parametrize(("name", "expected"), MATRIX)
    @pytest.mark.parametrize("role", [None, "Viewer", "Editor", "Admin"])
    def test_role_matrix(self, client, name, expected, role):
        client.force_login(make_user("someone", role=role))
        assert client.get(reverse(name)).status_code == expected[role]

    @pytest.mark.django_db
    def test_forbidden_page_names_the_role(self, client, viewer):
        client.force_login(viewer)
        response = client.get(reverse("orgadmin:audit-list"))
        assert response.status_code == 403
        assert "Your role (Viewer) does not allow this" in response.content.decode()


class ThrottlingTests:
    LOGIN = "/accounts/login/"

    def sign_in(self, client, username, password, address="192.0.2.10"):
        return client.post(self.LOGIN, {"login": username, "password": password}, REMOTE_ADDR=address)

    def fail_until_locked(self, client, username, address="192.0.2.10"):
        """The failures up to the limit get the form again; the one that reaches it locks."""
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert self.sign_in(client, username, "wrong-password", address).status_code == 200
        assert self.sign_in(client, username, "wrong-password", address).status_code == 429

    @pytest.mark.django_db
    def test_repeated_failures_pause_sign_in_even_with_the_right_password(self, client, viewer):
        self.fail_until_locked(client, "vera")
        response = self.sign_in(client, "vera", PASSWORD)
        assert response.status_code == 429
        assert "Sign-in paused" in response.content.decode()
        assert "_auth_user_id" not in client.session

    @pytest.mark.django_db
    def test_lock_is_on_username_and_address_together(self, client, viewer):
        make_user("other", role="Viewer")
        self.fail_until_locked(client, "vera", address="192.0.2.10")
        assert self.sign_in(client, "vera", PASSWORD, address="198.51.100.7").status_code == 302
        client.logout()
        assert self.sign_in(client, "other", PASSWORD, address="192.0.2.10").status_code == 302

    @pytest.mark.django_db
    def test_lock_is_a_cool_off_not_permanent(self, client, viewer):
        with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
            self.fail_until_locked(client, "vera")
            assert self.sign_in(client, "vera", PASSWORD).status_code == 429
            traveller.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))
            assert self.sign_in(client, "vera", PASSWORD).status_code == 302


class UsernameThrottlingTests:
    """Guessing one username's password from many addresses is paused everywhere, but never on a
    browser its user signed in with before, and never for longer than the cool-off."""

    LOGIN = "/accounts/login/"

    @pytest.fixture(autouse=True)
    def limits(self, settings):
        settings.AXES_FAILURE_LIMIT = 5
        settings.PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT = 8

    def sign_in(self, client, password, address, username="vera"):
        return client.post(self.LOGIN, {"login": username, "password": password}, REMOTE_ADDR=address)

    def guess_from_many_addresses(self, attacker) -> None:
        """Eight guesses from eight addresses: none reaches the per-address limit; the last pauses."""
        for n in range(1, 8):
            assert self.sign_in(attacker, "guess", f"203.0.113.{n}").status_code == 200
        assert self.sign_in(attacker, "guess", "203.0.113.8").status_code == 429

    @pytest.mark.django_db
    def test_failures_from_many_addresses_pause_the_username_everywhere(self, client, viewer):
        self.guess_from_many_addresses(client)
        response = self.sign_in(client, PASSWORD, "198.51.100.99")
        assert response.status_code == 429
        assert "Sign-in paused" in response.content.decode()
        make_user("other", role="Viewer")
        assert self.sign_in(client, PASSWORD, "198.51.100.99", username="other").status_code == 302

    @pytest.mark.django_db
    def test_a_browser_the_user_signed_in_with_is_not_paused(self, client, viewer):
        from django.test import Client

        assert self.sign_in(client, PASSWORD, "192.0.2.10").status_code == 302
        client.post("/accounts/logout/")
        self.guess_from_many_addresses(Client())
        # The owner, on their own browser, from yet another address (a train's Wi-Fi, say).
        assert self.sign_in(client, PASSWORD, "198.51.100.40").status_code == 302

    @pytest.mark.django_db
    def test_a_forged_or_foreign_device_cookie_does_not_exempt(self, client, viewer, settings):
        from django.test import Client

        make_user("mallory", role="Viewer")
        attacker = Client()
        assert self.sign_in(attacker, PASSWORD, "203.0.113.50", username="mallory").status_code == 302
        attacker.post("/accounts/logout/")  # the attacker's browser is a known device for mallory only
        self.guess_from_many_addresses(attacker)
        assert self.sign_in(attacker, PASSWORD, "203.0.113.51").status_code == 429
        attacker.cookies[settings.PORTAL_DEVICE_COOKIE_NAME] = '["vera"]'  # unsigned
        assert self.sign_in(attacker, PASSWORD, "203.0.113.51").status_code == 429

    @pytest.mark.django_db
    def test_a_new_password_ends_the_exemption_of_a_browser(self, client, viewer):
        """Whoever once signed in with a stolen password keeps no exemption once it is changed."""
        from django.test import Client

        assert self.sign_in(client, PASSWORD, "192.0.2.10").status_code == 302
        client.post("/accounts/logout/")
        viewer.set_password("a-new-password-after-the-leak")
        viewer.save()
        self.guess_from_many_addresses(Client())
        assert self.sign_in(client, "a-new-password-after-the-leak", "198.51.100.40").status_code == 429

    @pytest.mark.django_db
    def test_the_owner_signing_in_clears_only_their_own_address(self, client, viewer):
        """The owner's sign-in must not hand whoever is guessing from elsewhere a fresh allowance."""
        from django.test import Client

        assert self.sign_in(client, PASSWORD, "192.0.2.10").status_code == 302
        client.post("/accounts/logout/")
        attacker = Client()
        for n in range(1, 8):  # seven guesses: one short of the pause
            assert self.sign_in(attacker, "guess", f"203.0.113.{n}").status_code == 200
        assert self.sign_in(client, PASSWORD, "192.0.2.10").status_code == 302  # the owner, meanwhile
        assert self.sign_in(attacker, "guess", "203.0.113.8").status_code == 429  # the eighth still pauses

    @pytest.mark.django_db
    def test_the_pause_ends_by_itself_however_hard_it_is_hammered(self, client, viewer):
        with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
            self.guess_from_many_addresses(client)
            for minute in range(14):  # a guess a minute all through the pause
                traveller.shift(timedelta(minutes=1))
                assert self.sign_in(client, "guess", f"203.0.113.{100 + minute}").status_code == 429
            traveller.shift(settings.AXES_COOLOFF_TIME - timedelta(minutes=14) + timedelta(seconds=1))
            assert self.sign_in(client, PASSWORD, "198.51.100.99").status_code == 302


class SessionExpiryTests:
    PAGE = "/organizations/"

    @pytest.mark.django_db
    def test_idle_session_expires_after_thirty_minutes(self, client, viewer):
        with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
            client.force_login(viewer)
            assert client.get(self.PAGE).status_code == 200
            traveller.shift(timedelta(minutes=29))
            assert client.get(self.PAGE).status_code == 200
            traveller.shift(timedelta(minutes=31))
            response = client.get(self.PAGE)
            assert response.status_code == 302
            assert urlsplit(response["Location"]).path == reverse("account_login")

    @pytest.mark.django_db
    def test_active_session_ends_at_the_absolute_maximum(self, client, viewer):
        max_age = timedelta(seconds=settings.PORTAL_SESSION_MAX_AGE)
        step = timedelta(minutes=20)  # well inside the idle timeout
        with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
            client.force_login(viewer)
            assert client.get(self.PAGE).status_code == 200
            elapsed = timedelta(0)
            while elapsed + step <= max_age:
                traveller.shift(step)
                elapsed += step
                assert client.get(self.PAGE).status_code == 200, elapsed
            traveller.shift(step)
            response = client.get(self.PAGE, follow=True)
            assert response.redirect_chain[0][0].startswith(reverse("account_login"))
            assert "Your session has reached its maximum length" in response.content.decode()

    @pytest.mark.django_db
    def test_an_active_session_is_saved_at_most_once_a_minute(self, client, viewer):
        """The idle timeout is pushed back by activity, but not with a database write on every page."""
        from django.contrib.sessions.models import Session

        def expiry():
            return Session.objects.get(session_key=client.session.session_key).expire_date

        with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
            client.force_login(viewer)
            assert client.get(self.PAGE).status_code == 200
            first = expiry()
            traveller.shift(timedelta(seconds=settings.PORTAL_SESSION_REFRESH - 1))
            assert client.get(self.PAGE).status_code == 200
            assert expiry() == first
            traveller.shift(timedelta(seconds=2))
            assert client.get(self.PAGE).status_code == 200
            assert expiry() == first + timedelta(seconds=settings.PORTAL_SESSION_REFRESH + 1)

    @pytest.mark.django_db
    def test_session_cookie_is_secure_and_http_only(self, client, viewer):
        response = client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie["secure"] is True
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert int(cookie["max-age"]) == 30 * 60


def test_login_url_names_resolve():
    assert re.fullmatch(r"/accounts/login/", reverse(settings.LOGIN_URL))
