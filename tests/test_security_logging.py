"""Production cookie names, and the security log of sign-ins and refused permissions."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from tests.factories import PASSWORD, make_user


@pytest.mark.django_db
class HostCookieTests:
    def test_session_and_csrf_cookies_are_host_only_and_secure(self, client):
        make_user("vera", role="Viewer")
        login_page = client.get("/accounts/login/")
        signed_in = client.post("/accounts/login/", {"login": "vera", "password": PASSWORD})
        for response, name in ((login_page, "__Host-csrftoken"), (signed_in, "__Host-sessionid")):
            cookie = response.cookies[name]
            assert cookie["secure"] is True
            assert cookie["path"] == "/"
            assert cookie["domain"] == ""  # a __Host- cookie must not name a domain
        assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"


@pytest.mark.django_db
class SecurityLogTests:
    def test_sign_ins_and_failures_are_logged_without_passwords(self, client, caplog):
        make_user("vera", role="Viewer")
        with caplog.at_level(logging.INFO, logger="orgadmin.security"):
            client.post("/accounts/login/", {"login": "vera", "password": "wrong-password-1"}, REMOTE_ADDR="192.0.2.8")
            client.post("/accounts/login/", {"login": "vera", "password": PASSWORD}, REMOTE_ADDR="192.0.2.8")
            client.post("/accounts/logout/")
        messages = [r.getMessage() for r in caplog.records if r.name == "orgadmin.security"]
        assert messages == [
            "Failed sign-in for 'vera' from 192.0.2.8",
            "Sign-in: vera from 192.0.2.8",
            "Sign-out: vera",
        ]
        assert "wrong-password-1" not in caplog.text
        assert PASSWORD not in caplog.text

    def test_refused_permissions_are_logged_with_who_and_what(self, client, viewer, caplog):
        client.force_login(viewer)
        with caplog.at_level(logging.WARNING, logger="orgadmin.security"):
            response = client.post("/organizations/new/", {"name": "X"}, REMOTE_ADDR="198.51.100.3")
        assert response.status_code == 403
        assert "Your role (Viewer) does not allow this" in response.content.decode()
        assert "Permission refused: POST /organizations/new/ for vera from 198.51.100.3" in caplog.text
