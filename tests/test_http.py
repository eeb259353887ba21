from __future__ import annotations

import ipaddress
import logging

import pytest
from django.test import RequestFactory

from orgadmin.checks import trusted_proxies_are_named
from orgadmin.proxies import client_ip


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


class ClientIpTests:
    def test_without_trusted_proxies_forwarded_header_is_ignored(self, settings):
        settings.PORTAL_TRUSTED_PROXY_COUNT = 0
        assert client_ip(request_from("203.0.113.5", "198.51.100.1")) == "203.0.113.5"

    @pytest.mark.parametrize(
        ("count", "forwarded", "expected"),
        [
            (1, "198.51.100.1", "198.51.100.1"),
            # A forged first value is ignored: the trusted proxy appended the real address last.
            (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
            (2, "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),
            (1, "2001:db8::1", "2001:db8::1"),
            (1, "", "10.0.0.2"),
            (1, "not-an-address", "10.0.0.2"),
        ],
    )
    def test_with_trusted_proxies(self, settings, count, forwarded, expected):
        settings.PORTAL_TRUSTED_PROXY_COUNT = count
        assert client_ip(request_from("10.0.0.2", forwarded)) == expected


class ForwardedHeaderTests:
    """Behind a proxy, forwarded headers count only when the proxy sent them."""

    @pytest.fixture(autouse=True)
    def behind_a_proxy(self, settings):
        settings.PORTAL_TRUSTED_PROXY_COUNT = 1
        settings.PORTAL_TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    FORGED = {"HTTP_X_FORWARDED_FOR": "198.51.100.1", "HTTP_X_REQUEST_ID": "forged-request-id-1"}

    def page(self, client, remote: str):
        return client.get("/accounts/login/", REMOTE_ADDR=remote, **self.FORGED)

    @pytest.mark.django_db
    def test_from_the_proxy_they_are_honoured(self, client):
        response = self.page(client, "10.1.2.3")
        assert response["X-Request-ID"] == "forged-request-id-1"
        assert client_ip(response.wsgi_request) == "198.51.100.1"

    @pytest.mark.django_db
    def test_from_anyone_else_they_are_dropped_and_logged(self, client, caplog):
        with caplog.at_level(logging.WARNING, logger="orgadmin.security"):
            response = self.page(client, "203.0.113.9")
        assert response["X-Request-ID"] != "forged-request-id-1"
        assert client_ip(response.wsgi_request) == "203.0.113.9"
        assert "HTTP_X_FORWARDED_FOR" not in response.wsgi_request.META
        assert "203.0.113.9, which is not a trusted proxy" in caplog.text

    @pytest.mark.django_db
    def test_a_forged_scheme_is_not_believed(self, client, settings):
        settings.SECURE_SSL_REDIRECT = True
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as TRUSTED_PROXY_COUNT sets it
        forged = client.get("/accounts/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https")
        assert forged.status_code == 301  # still plain HTTP: sent to https
        real = client.get("/accounts/login/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_PROTO="https")
        assert real.status_code == 200

    @pytest.mark.django_db
    def test_sign_in_failures_count_against_the_real_address(self, client, settings):
        """A direct client rotating X-Forwarded-For would otherwise never reach the limit."""
        for n in range(settings.AXES_FAILURE_LIMIT):
            response = client.post(
                "/accounts/login/",
                {"login": "vera", "password": "guess"},
                REMOTE_ADDR="203.0.113.9",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            )
        assert response.status_code == 429

    def test_check_deploy_warns_when_any_address_is_trusted(self, settings):
        assert trusted_proxies_are_named(None) == []
        settings.PORTAL_TRUSTED_PROXY_NETWORKS = []
        assert [warning.id for warning in trusted_proxies_are_named(None)] == ["orgadmin.W001"]
        settings.PORTAL_TRUSTED_PROXY_COUNT = 0
        assert trusted_proxies_are_named(None) == []
