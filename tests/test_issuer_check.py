"""The OIDC issuer check: what it says of a discovery document, and where it refuses to go."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from devtools.sandbox import GLOBEX_ID
from orgadmin.issuer_check import Refused, check_issuer, fetch
from orgadmin.models import AuditEntry
from orgadmin.polytomic.recording import AuditContext
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def checker() -> AuditContext:
    return AuditContext(actor=None, actor_label="checker", request_id="req-check")


@pytest.fixture
def loopback_allowed(settings):
    settings.PORTAL_ISSUER_CHECK_ALLOW_LOOPBACK = True


def resolving_to(monkeypatch, *addresses: str) -> None:
    """The resolver answers these addresses for every host (as a hostile DNS record would)."""
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, **kw: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses],
    )


class OutcomeTests:
    def test_a_matching_issuer(self, checker, sandbox, loopback_allowed):
        issuer = f"{sandbox.url}/_idp/good"
        result = check_issuer(issuer, context=checker)
        assert (result.reachable, result.valid_json, result.issuer_matches, result.passed) == (True, True, True, True)
        assert result.authorization_host == "login.good.example"
        entry = AuditEntry.objects.get(action="issuer.check")
        assert (entry.path, entry.outcome, entry.actor_username) == (
            f"{issuer}/.well-known/openid-configuration",
            "ok",
            "checker",
        )

    def test_a_trailing_slash_is_a_mismatch(self, checker, sandbox, loopback_allowed):
        result = check_issuer(f"{sandbox.url}/_idp/trailing-slash", context=checker)
        assert (result.reachable, result.valid_json, result.issuer_matches) == (True, True, False)
        assert "names the issuer" in result.problem
        assert AuditEntry.objects.get(action="issuer.check").outcome == "failed"

    def test_not_json_and_unreachable(self, checker, sandbox, loopback_allowed):
        garbage = check_issuer(f"{sandbox.url}/_idp/garbage", context=checker)
        assert (garbage.reachable, garbage.valid_json) == (True, False)
        unreachable = check_issuer("http://127.0.0.1:9", context=checker)  # nothing listens there
        assert not unreachable.reachable
        assert "could not be reached" in unreachable.problem


class ForgeryTests:
    """Server-side request forgery: the check reaches public https addresses, and nothing else."""

    def test_http_is_refused_outside_tests(self, sandbox):
        with pytest.raises(Refused, match="https"):
            fetch(f"{sandbox.url}/_idp/good/.well-known/openid-configuration")

    def test_loopback_is_refused_unless_allowed(self, sandbox):
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://localhost/.well-known/openid-configuration")

    @pytest.mark.parametrize(
        "address",
        [
            "10.0.0.5",
            "172.16.1.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",  # noqa: S104 (an address to refuse, not to bind)
            "::1",
            "fd00::1",
            "fe80::1",
        ],
    )
    def test_private_link_local_and_metadata_addresses_are_refused(self, monkeypatch, address):
        resolving_to(monkeypatch, address)
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://idp.example/.well-known/openid-configuration")

    def test_one_private_address_among_public_ones_is_refused(self, monkeypatch):
        resolving_to(monkeypatch, "93.184.216.34", "10.1.2.3")
        with pytest.raises(Refused, match="not a public address"):
            fetch("https://idp.example/.well-known/openid-configuration")

    def test_a_redirect_is_not_followed(self, sandbox, loopback_allowed):
        with pytest.raises(Refused, match="redirected"):
            fetch(f"{sandbox.url}/_idp/moved/.well-known/openid-configuration")

    def test_credentials_in_the_url_are_refused(self, loopback_allowed):
        with pytest.raises(Refused, match="credentials"):
            fetch("https://user:pass@idp.example/.well-known/openid-configuration")


class EditFormTests:
    def test_the_edit_form_checks_the_typed_issuer(self, client, sandbox, loopback_allowed):
        client.force_login(make_user("ed", role="Editor"))
        assert (
            "Check the issuer" in client.get(reverse("orgadmin:organization-edit", args=[GLOBEX_ID])).content.decode()
        )
        url = reverse("orgadmin:issuer-check")
        good = client.post(url, {"issuer": f"{sandbox.url}/_idp/good"}).content.decode()
        assert "The issuer answers as expected." in good
        assert "login.good.example" in good
        slash = client.post(url, {"issuer": f"{sandbox.url}/_idp/trailing-slash"}).content.decode()
        assert "The issuer check found a problem." in slash
        assert "You can still save" in slash
        assert "Enter the issuer URL first." in client.post(url, {"issuer": " "}).content.decode()
        assert AuditEntry.objects.filter(action="issuer.check", actor_username="ed").count() == 2


class TlsTests:
    """The check speaks https as production does: the certificate must be one it trusts."""

    def test_a_trusted_certificate_is_read_and_an_untrusted_one_refused(self, checker, sandbox, settings):
        settings.PORTAL_ISSUER_CHECK_ALLOW_LOOPBACK = True
        issuer = f"{sandbox.serve_tls()}/_idp/good"
        settings.PORTAL_ISSUER_CHECK_CA_FILE = sandbox.ca_file
        assert check_issuer(issuer, context=checker).passed
        settings.PORTAL_ISSUER_CHECK_CA_FILE = None  # the system's authorities: they never signed it
        untrusted = check_issuer(issuer, context=checker)
        assert not untrusted.reachable
        assert "could not be reached" in untrusted.problem
