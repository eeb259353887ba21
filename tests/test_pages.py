"""The page shell: what every signed-in page shows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import ensure_roles, make_user


class PageShellTests:
    def test_shows_user_role_navigation_and_sign_out(self, client, editor):
        client.force_login(editor)
        html = client.get(reverse("orgadmin:organization-list")).content.decode()
        account = '<a class="account__name" href="/accounts/2fa/" title="Your sign-in: second factors, password">ed</a>'
        assert account in html
        assert 'title="Your role">Editor<' in html
        assert '<a href="/organizations/" aria-current="page">Organizations</a>' in html
        assert re.search(
            r'<form method="post" action="/accounts/logout/"[^>]*>\s*<input type="hidden" name="csrf', html
        )

    @pytest.mark.parametrize(
        ("groups", "shown"),
        [([], "No role"), (["Viewer"], "Viewer"), (["Editor"], "Editor"), (["Admin"], "Admin"),
         (["Viewer", "Admin"], "Admin"), (["Editor", "Viewer"], "Editor")],
    )  # fmt: skip
    @pytest.mark.django_db
    def test_the_role_shown_is_the_strongest_held(self, client, groups, shown):
        from django.contrib.auth.models import Group

        ensure_roles()
        user = make_user("rhea")
        user.groups.set(Group.objects.filter(name__in=groups))
        client.force_login(user)
        assert f'title="Your role">{shown}<' in client.get(reverse("orgadmin:organization-list")).content.decode()

    @pytest.mark.django_db
    def test_a_superuser_is_shown_as_such(self, client):
        client.force_login(make_user("sue", is_superuser=True))
        assert 'title="Your role">Superuser<' in client.get(reverse("orgadmin:organization-list")).content.decode()

    def test_audit_link_only_for_roles_that_may_open_it(self, client, viewer, admin_user):
        client.force_login(viewer)
        assert 'href="/audit/"' not in client.get("/organizations/").content.decode()
        client.force_login(admin_user)
        assert 'href="/audit/"' in client.get("/organizations/").content.decode()

    def test_htmx_requests_carry_the_csrf_token(self, client, viewer):
        client.force_login(viewer)
        response = client.get("/organizations/")
        token = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>", response.content.decode())
        assert token
        # The token in the header is accepted by Django's CSRF check on a real POST.
        client.handler.enforce_csrf_checks = True
        assert client.post(reverse("account_logout"), HTTP_X_CSRFTOKEN=token.group(1)).status_code == 302

    @pytest.mark.django_db
    def test_post_without_csrf_token_is_refused(self, client):
        client.handler.enforce_csrf_checks = True
        make_user("vera", role="Viewer")
        response = client.post(reverse("account_login"), {"login": "vera", "password": "x"})
        assert response.status_code == 403

    def test_root_leads_to_organizations(self, client, viewer):
        client.force_login(viewer)
        response = client.get("/")
        assert response.status_code == 302
        assert response["Location"] == reverse("orgadmin:organization-list")

    def test_form_controls_are_labelled(self, client):
        html = client.get(reverse("account_login")).content.decode()
        for control in re.findall(r'<input type="(?:text|password)"[^>]* id="([^"]+)"', html):
            assert f'<label for="{control}">' in html


class RootFileTests:
    @pytest.mark.django_db
    def test_favicon_and_robots_are_served_without_sign_in(self, client):
        favicon = client.get("/favicon.ico")
        assert favicon.status_code == 200
        assert b"".join(favicon.streaming_content).startswith(b"\x00\x00\x01\x00")  # an icon file
        robots = client.get("/robots.txt")
        assert robots.status_code == 200
        assert b"Disallow: /" in b"".join(robots.streaming_content)
