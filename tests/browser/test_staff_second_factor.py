"""A local account's second factor in Chromium: an authenticator app, and a security key
(Chromium's virtual authenticator, through the DevTools protocol's WebAuthn domain)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import pytest
import time_machine
from playwright.sync_api import Page, expect

from audit.models import AuditEntry
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _mfa_required(settings):
    settings.PORTAL_REQUIRE_MFA = True
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # http on loopback, as a developer's machine


def totp(secret: str, at: float) -> str:
    """RFC 6238 (SHA-1, 30-second steps, six digits), written here apart from allauth's."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def password_sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def confirm_password(page: Page) -> None:
    """allauth asks for the password again before a second factor is added."""
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


class AuthenticatorAppTests:
    def test_enrol_then_sign_in_with_the_app(self, page, live_server, sandbox, screenshot):
        make_user("ed", role="Editor")
        password_sign_in(page, "ed")
        expect(page.get_by_text("Set up a second factor first")).to_be_visible()
        page.goto("/organizations/")
        expect(page).to_have_url(f"{live_server.url}/accounts/2fa/")
        screenshot("20-second-factor-required")

        page.get_by_role("link", name="Activate").first.click()
        confirm_password(page)
        secret = page.locator("#authenticator_secret").input_value()
        page.get_by_label("Authenticator code").fill(totp(secret, time.time()))
        page.get_by_role("button", name="Activate").click()
        codes = page.locator("#recovery_codes").input_value().split()
        assert len(codes) == 10
        screenshot("21-recovery-codes-shown-once")
        page.goto("/organizations/")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        sign_out(page)

        # A code of its own (each is taken once), from the start of a 30-second step a minute or more
        # ahead: the clock keeps ticking through the sign-in, and a step boundary crossed on the way
        # would make the code typed a stale one.
        later = (time.time() // 30 + 3) * 30 + 1
        with time_machine.travel(later, tick=True):  # the live server runs in this process
            password_sign_in(page, "ed")
            page.get_by_label("Code").fill(totp(secret, later))
            page.get_by_role("button", name="Sign In").click()
            expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        assert page.console.errors == []


class SecurityKeyTests:
    def test_enrol_then_sign_in_with_a_security_key(self, page, live_server, sandbox, screenshot):
        """WebAuthn needs a host name, not an address: the portal is reached as localhost here."""
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        options = {
            "protocol": "ctap2",
            "transport": "usb",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]
        portal = live_server.url.replace("127.0.0.1", "localhost")
        make_user("ada", role="Admin")

        page.goto(f"{portal}/accounts/login/")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.goto(f"{portal}/accounts/2fa/webauthn/add/")
        confirm_password(page)
        page.get_by_label("Name").fill("Desk key")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.get_by_text("Security key added.")).to_be_visible()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(credentials) == 1
        screenshot("22-security-key-added")
        page.goto(f"{portal}/organizations/")
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        page.get_by_role("button", name="Sign out").click()

        page.goto(f"{portal}/accounts/login/")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("button", name="Use a security key").click()
        expect(page.get_by_role("heading", name="Organizations", level=1)).to_be_visible()
        signed = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]
        assert signed["signCount"] >= 1  # it signed the sign-in
        entry = AuditEntry.objects.filter(action="organization.list").latest("id")
        assert entry.actor_signin == "password+webauthn"
