from __future__ import annotations

import ipaddress
import logging

import pytest
from allauth.account.adapter import get_adapter
from allauth.core.internal.ratelimit import Rate, get_cache_key, truncate_ip
from axes.helpers import get_client_ip_address
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from hypothesis import example, given
from hypothesis import strategies as st

from audit.protocol import AuditContext
from staff.checks import trusted_proxies_are_named
from staff.forwarded_headers import ForwardedHeadersMiddleware, client_ip
from tests.factories import PASSWORD, make_user


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
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as PORTAL_TRUSTED_PROXY_COUNT sets it
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
        assert [warning.id for warning in trusted_proxies_are_named(None)] == ["staff.W004"]
        settings.PORTAL_TRUSTED_PROXY_COUNT = 0
        assert trusted_proxies_are_named(None) == []


PROXY = "10.0.0.5"  # the load balancer, in PORTAL_TRUSTED_PROXY_NETWORKS


@pytest.mark.django_db
class SignInBehindAProxyTests:
    """Behind the documented proxy every request arrives from the proxy's address: each limiter
    must count the client the proxy names, or failures from anywhere pause everyone."""

    LOGIN = "/accounts/login/"

    @pytest.fixture(autouse=True)
    def behind_a_proxy(self, settings):
        settings.PORTAL_TRUSTED_PROXY_COUNT = 1
        settings.PORTAL_TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    def sign_in(self, client, username: str, password: str, forwarded_for: str):
        return client.post(
            self.LOGIN,
            {"login": username, "password": password},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    def test_failures_from_other_addresses_do_not_keep_a_staff_member_out(self):
        make_user("vera", role="Viewer")
        attacker = Client()
        for n in range(30):
            response = self.sign_in(attacker, f"nobody-{n}", "guess", f"203.0.113.{n + 1}")
            assert response.status_code == 200  # the form again, with its error
        response = self.sign_in(Client(), "vera", PASSWORD, "198.51.100.20")
        assert response.status_code == 302
        assert response.wsgi_request.user.get_username() == "vera"

    def test_the_limits_by_address_still_hold_for_one_client(self, settings):
        """django-allauth's sign-in limit by address (30 a minute) and django-axes' pause of a
        username at one address both count the forwarded client, as each did a client connecting
        directly."""
        make_user("vera", role="Viewer")
        one = Client()
        statuses = [self.sign_in(one, f"nobody-{n}", "guess", "203.0.113.7").status_code for n in range(31)]
        assert statuses == [200] * 30 + [429]  # allauth's "login" limit, for this client alone
        assert self.sign_in(Client(), "vera", PASSWORD, "203.0.113.8").status_code == 302
        cache.clear()  # allauth's count gone: django-axes' own pause is what is left to see
        for _ in range(settings.AXES_FAILURE_LIMIT):
            paused = self.sign_in(Client(), "vera", "guess", "192.0.2.44")
        assert paused.status_code == 429
        assert "Sign-in paused" in paused.content.decode()
        assert self.sign_in(Client(), "vera", PASSWORD, "192.0.2.45").status_code == 302


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
hops = st.one_of(
    addresses,
    addresses.map(lambda address: f" {address} "),
    st.sampled_from(["", "unknown", "not-an-address", "10.0.0.300", "[2001:db8::1]:443", "1.2.3.4:80"]),
    st.text(alphabet=st.characters(codec="latin-1", exclude_characters=","), max_size=12),
)


class EveryLimiterReadsOneAddressTests:
    """django-axes, django-allauth's rate limits and the audit log take the client's address from
    `client_ip`, each after ForwardedHeadersMiddleware has dropped what an untrusted sender said."""

    @given(
        count=st.integers(min_value=0, max_value=3),
        networks=st.sampled_from([[], ["10.0.0.0/8"], ["10.0.0.0/8", "fd00::/8"]]),
        remote=st.one_of(st.sampled_from(["10.0.0.5", "10.200.1.1", "fd00::7"]), addresses),
        chain=st.one_of(st.none(), st.lists(hops, max_size=5).map(",".join)),
    )
    @example(count=1, networks=["10.0.0.0/8"], remote="10.0.0.5", chain="6.6.6.6, 203.0.113.7")
    @example(count=2, networks=["10.0.0.0/8"], remote="10.0.0.5", chain="203.0.113.7")
    @example(count=1, networks=["10.0.0.0/8"], remote="10.0.0.5", chain="2001:db8:1:2:3:4:5:6")
    def test_each_limiter_sees_the_same_address(self, count, networks, remote, chain):
        extra = {"REMOTE_ADDR": remote} | ({"HTTP_X_FORWARDED_FOR": chain} if chain is not None else {})
        request = RequestFactory().post("/accounts/login/", **extra)
        trusted = [ipaddress.ip_network(network) for network in networks]
        with override_settings(PORTAL_TRUSTED_PROXY_COUNT=count, PORTAL_TRUSTED_PROXY_NETWORKS=trusted):
            logging.disable(logging.WARNING)  # the middleware's notes of dropped headers
            try:
                ForwardedHeadersMiddleware(lambda request: HttpResponse())(request)
            finally:
                logging.disable(logging.NOTSET)
            address = client_ip(request)
            rate_limit_key = get_cache_key(request, app="allauth.account", action="login", rate=Rate(30, 60, "ip"))
            seen = {
                "django-axes": get_client_ip_address(request),
                "allauth": get_adapter(request).get_client_ip(request),
                "audit log": AuditContext.from_request(request).client_ip,
            }
        assert seen == dict.fromkeys(seen, address)
        # allauth counts an IPv6 client by its /64 (ALLAUTH_RATE_LIMIT_IPV6_PREFIX), as it should.
        assert rate_limit_key == f"allauth:rl:allauth.account:login:30/60/ip:ip:{truncate_ip(address)}"
        assert address == str(ipaddress.ip_address(address))
        if not count or (networks and not any(ipaddress.ip_address(remote) in n for n in trusted)):
            assert address == remote  # whatever the sender says it forwards
