"""Staff sign-in through the company's identity provider: a real OpenID provider (oidc-provider,
on loopback) driven through its own sign-in pages in Chromium."""

from __future__ import annotations

import io
import json
import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from playwright.sync_api import Page, Route, expect

from audit.models import AuditEntry
from devtools.sandbox import GLOBEX_ID
from staff.recent_sign_in import IDP_AUTH_TIME_KEY
from staff.roles import ROLES
from tests.browser.openid_provider import CLIENT_SECRET, OpenIDProvider
from tests.factories import ensure_roles

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def openid_provider(live_server, tmp_path_factory) -> OpenIDProvider:
    provider = OpenIDProvider(tmp_path_factory.mktemp("oidc"), live_server.url).start()
    yield provider
    provider.stop()


@pytest.fixture
def idp(openid_provider: OpenIDProvider, settings) -> OpenIDProvider:
    ensure_roles()  # a transactional test before this one emptied every table
    openid_provider.portal_settings(settings)
    openid_provider.set_accounts(
        {"ana": {"email": "ana@example.com", "name": "Ana Lima", "groups": ["portal-editors"]}}
    )
    return openid_provider


def sign_in_at_the_provider(page: Page, login: str = "ana") -> None:
    """From the portal's sign-in page, through the provider's own pages."""
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    provider_sign_in(page, login)


def provider_sign_in(page: Page, login: str) -> None:
    page.wait_for_url("**/interaction/**")  # the provider's sign-in page
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password: the development pages take any")
    page.locator("button[type=submit]").click()


def sign_out_everywhere(page: Page) -> None:
    """Signs out of the portal, which sends the browser on to sign out at the provider too."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


def roles_of(username: str) -> set[str]:
    user = get_user_model().objects.get(username=username)
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def signed_in(page: Page) -> bool:
    page.goto("/organizations/")
    return urlsplit(page.url).path == "/organizations/"


class FirstSignInTests:
    def test_makes_the_account_of_the_issuer_and_subject_with_the_role_of_its_groups(self, page, idp, sandbox):
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        expect(page.get_by_title("Your role")).to_have_text("Editor")
        account = SocialAccount.objects.get()
        assert (account.provider, account.uid) == ("company", f"{idp.issuer} ana")
        assert roles_of(account.user.username) == {"Editor"}
        assert not account.user.has_usable_password()
        entry = AuditEntry.objects.filter(action="organization.list").latest("id")
        assert (entry.actor_username, entry.actor_signin) == (account.user.username, "idp:company")
        assert page.console.errors == []

    def test_the_client_secret_is_in_no_page_log_or_table(self, page, idp, sandbox, caplog):
        bodies: list[str] = []
        page.on("response", lambda response: bodies.append(portal_text(response, idp)))
        with caplog.at_level(logging.DEBUG):
            sign_in_at_the_provider(page)
            expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
            sign_out_everywhere(page)
            idp.misbehave("signature")
            sign_in_at_the_provider(page)
            expect(page.get_by_role("heading", name="Sign-in")).to_contain_text("failed")
        assert len([body for body in bodies if body]) >= 5
        for text in (*bodies, caplog.text, dumped_database()):
            assert CLIENT_SECRET not in text

    def test_groups_are_read_again_at_every_sign_in(self, page, idp, sandbox):
        sign_in_at_the_provider(page)
        expect(page.get_by_title("Your role")).to_have_text("Editor")
        sign_out_everywhere(page)

        idp.set_accounts({"ana": {"email": "ana@example.com", "groups": ["portal-admins", "unrelated"]}})
        sign_in_at_the_provider(page)  # the provider asks again: signing out ended its session too
        expect(page.get_by_title("Your role")).to_have_text("Admin")
        username = SocialAccount.objects.get().user.username
        assert roles_of(username) == {"Admin"}
        sign_out_everywhere(page)

        idp.set_accounts({"ana": {"email": "ana@example.com", "groups": ["unrelated"]}})
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="You have no access to the portal")).to_be_visible()
        assert roles_of(username) == set()
        assert not signed_in(page)
        assert get_user_model().objects.count() == 1


class RefusedAnswersTests:
    """An answer that is not this sign-in's, or not the provider's: an error page, no session."""

    @pytest.mark.parametrize("kind", ["audience", "issuer", "expired", "signature", "nonce"])
    def test_an_id_token_that_does_not_hold(self, page, idp, kind, sandbox, caplog):
        idp.misbehave(kind)
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="Sign-in")).to_contain_text(["failed", "refused"][kind == "nonce"])
        assert not signed_in(page)
        assert not SocialAccount.objects.exists()
        expected = "nonce" if kind == "nonce" else "Invalid id_token"
        assert any(expected in line for line in refusals(caplog)), refusals(caplog)

    def test_a_tampered_state(self, page, idp, sandbox, caplog):
        rewrite_the_way_back(page, idp, state="a-state-of-someone-else")
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="Sign-in")).to_contain_text("failed")
        assert not signed_in(page)
        assert refusals(caplog)
        assert not any("invalid_grant" in line for line in refusals(caplog))

    def test_a_replayed_code(self, page, idp, sandbox, caplog):
        callbacks: list[str] = []
        page.on("request", lambda request: callbacks.append(request.url) if "/login/callback/" in request.url else None)
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        used_code = parse_qs(urlsplit(callbacks[0]).query)["code"][0]
        sign_out_everywhere(page)

        rewrite_the_way_back(page, idp, code=used_code)  # this sign-in's own state, the earlier one's code
        sign_in_at_the_provider(page)
        expect(page.get_by_role("heading", name="Sign-in")).to_contain_text("failed")
        assert not signed_in(page)
        assert any("invalid_grant" in line for line in refusals(caplog))  # the provider refused the code


def rewrite_the_way_back(page: Page, idp: OpenIDProvider, **replaced: str) -> None:
    """Changes the provider's redirect back to the portal, as someone between them could. The
    browser does not show routes the redirects it follows, so from the provider's sign-in form on,
    its redirects are followed here (with the browser's cookies) and the last one rewritten."""

    def handle(route: Route) -> None:
        answer = route.fetch(max_redirects=0)
        location = answer.headers.get("location", "")
        for _ in range(5):
            if not location.startswith(idp.issuer):
                break
            location = page.context.request.get(location, max_redirects=0).headers.get("location", "")
        if "/login/callback/" in location:
            route.fulfill(status=303, headers={"location": with_query(location, **replaced)})
        else:
            route.fulfill(response=answer)

    page.route(f"{idp.issuer}/interaction/**", handle)


class FreshCheckTests:
    def test_a_delete_asks_the_provider_again_and_keeps_what_was_typed(self, page, idp, sandbox):
        idp.set_accounts({"ana": {"email": "ana@example.com", "groups": ["portal-admins"]}})
        sign_in_at_the_provider(page)
        expect(page.get_by_title("Your role")).to_have_text("Admin")
        signed_in_long_ago(page)

        page.goto(f"/organizations/{GLOBEX_ID}/delete/")
        page.get_by_label("Type the organization's name to confirm").fill("Globex")
        page.get_by_role("button", name="Delete organization").click()
        expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        assert GLOBEX_ID in sandbox.sandbox.organizations  # nothing sent yet

        page.get_by_role("button", name="Sign in again with Test IdP").click()
        provider_sign_in(page, "ana")  # prompt=login: the provider asks, though its session lives
        expect(page.get_by_label("Type the organization's name to confirm")).to_have_value("Globex")
        page.get_by_role("button", name="Delete organization").click()
        expect(page.get_by_text("Deleted Globex.")).to_be_visible()
        assert GLOBEX_ID not in sandbox.sandbox.organizations

    def test_the_check_must_be_of_the_same_staff_member(self, page, idp, sandbox):
        idp.set_accounts({
            "ana": {"email": "ana@example.com", "groups": ["portal-admins"]},
            "bob": {"email": "bob@example.com", "groups": ["portal-admins"]},
        })  # fmt: skip
        sign_in_at_the_provider(page, "bob")  # bob has an account here too
        sign_out_everywhere(page)
        sign_in_at_the_provider(page, "ana")
        signed_in_long_ago(page)
        page.goto(f"/organizations/{GLOBEX_ID}/delete/")
        page.get_by_label("Type the organization's name to confirm").fill("Globex")
        page.get_by_role("button", name="Delete organization").click()
        page.get_by_role("button", name="Sign in again with Test IdP").click()
        provider_sign_in(page, "bob")
        expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
        assert GLOBEX_ID in sandbox.sandbox.organizations


def portal_text(response, idp: OpenIDProvider) -> str:
    """A response of the portal's, as text: its headers and body."""
    if response.url.startswith(idp.issuer):
        return ""
    try:
        body = response.text()
    except Exception:  # a redirect has no body to read
        body = ""
    return json.dumps(response.headers) + body


def dumped_database() -> str:
    out = io.StringIO()
    # Every table with rows (unmanaged models have none, nor a table).
    call_command("dumpdata", "--exclude", "orgadmin.portalaccess", "--exclude", "staff.staffaccess", stdout=out)
    return out.getvalue()


def refusals(caplog) -> list[str]:
    """What the security log said of refused sign-ins."""
    return [r.getMessage() for r in caplog.records if r.name == "orgadmin.security" and "Sign-in" in r.getMessage()]


def signed_in_long_ago(page: Page) -> None:
    """The provider last authenticated this browser's staff member an hour ago, as far as the
    portal's session knows."""
    cookie = next(c for c in page.context.cookies() if c["name"].endswith("sessionid"))
    session = Session.objects.get(session_key=cookie["value"])
    store = Session.get_decoded(session)
    store[IDP_AUTH_TIME_KEY] = int(time.time()) - 3600
    Session.objects.save(session.session_key, store, session.expire_date)


def with_query(url: str, **replaced: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()} | replaced
    return urlunsplit(parts._replace(query=urlencode(query)))
