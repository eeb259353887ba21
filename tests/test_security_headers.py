"""The Content-Security-Policy and the other headers every page carries, and pages that obey them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import make_user

EXPECTED_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def parse_csp(header: str) -> dict[str, set[str]]:
    directives = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


class InlineCodeFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: inline scripts, styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.violations: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.violations.append("inline <script>")
        if tag == "style":
            self.violations.append("<style> element")
        if "style" in names:
            self.violations.append(f"style attribute on <{tag}>")
        self.violations.extend(f"{name} handler on <{tag}>" for name in names if name.startswith("on"))


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.violations


class ContentSecurityPolicyTests:
    @pytest.mark.django_db
    def test_sign_in_page_carries_the_policy(self, client):
        response = client.get(reverse("account_login"))
        assert parse_csp(response["Content-Security-Policy"]) == EXPECTED_CSP

    def test_signed_in_page_carries_the_policy(self, client, viewer):
        client.force_login(viewer)
        response = client.get(reverse("orgadmin:organization-list"))
        policy = response["Content-Security-Policy"]
        assert parse_csp(policy) == EXPECTED_CSP
        assert "unsafe" not in policy

    @pytest.mark.parametrize(
        ("path", "role"),
        [
            ("/accounts/login/", None),
            ("/organizations/", "Viewer"),
            ("/organizations/new/", "Editor"),
            ("/organizations/7a1f0c2e-0000-4000-8000-000000000003/", "Viewer"),
            ("/organizations/7a1f0c2e-0000-4000-8000-000000000003/edit/", "Editor"),
            ("/organizations/7a1f0c2e-0000-4000-8000-000000000002/delete/", "Admin"),
            ("/audit/", "Admin"),
            ("/audit/", "Viewer"),  # the 403 page
            ("/no-such-page/", "Viewer"),  # the 404 page
            ("/accounts/password/", "Viewer"),
        ],
    )
    @pytest.mark.django_db
    def test_pages_have_no_inline_script_or_style(self, client, path, role):
        if role:
            client.force_login(make_user("someone", role=role))
        response = client.get(path)
        assert response["Content-Type"].startswith("text/html")
        assert inline_code(response.content.decode()) == []
        # No template syntax leaks into a page (Django's {# #} comments are single-line only).
        assert "{#" not in response.content.decode()
        assert "{%" not in response.content.decode()

    @pytest.mark.django_db
    def test_admin_pages_have_no_inline_script_or_style(self, client):
        client.force_login(make_user("root", role="Viewer", is_staff=True, is_superuser=True))
        viewer_group = Group.objects.get(name="Viewer")
        for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/group/{viewer_group.pk}/change/"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert inline_code(response.content.decode()) == [], path

    def test_the_finder_sees_inline_code(self):
        html = '<script>x()</script><p style="color:red" onclick="y()"></p><script src="/a.js"></script>'
        assert inline_code(html) == ["inline <script>", "style attribute on <p>", "onclick handler on <p>"]


class OtherHeaderTests:
    def test_security_headers(self, client, viewer):
        client.force_login(viewer)
        response = client.get(reverse("orgadmin:organization-list"))
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"

    @pytest.mark.django_db
    def test_htmx_is_served_by_the_portal_not_a_cdn(self, client):
        html = client.get(reverse("account_login")).content.decode()
        # Vendored by django-htmx and served under a content-hashed name from the portal's static files.
        assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.[0-9a-f]{12}\.js" defer>', html)
        assert "unpkg" not in html
        assert "cdn" not in html.lower()
