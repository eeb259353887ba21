from __future__ import annotations

import pytest
from django.test import RequestFactory

from orgadmin.http import client_ip


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
