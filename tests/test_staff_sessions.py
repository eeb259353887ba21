"""A staff member's sessions: the staff page, ending them, and their end when the account is
deactivated or loses its last role."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def signed_in_browser(username: str) -> Client:
    """A browser of the staff member's, signed in through the sign-in page."""
    browser = Client()
    assert browser.post(reverse("account_login"), {"login": username, "password": PASSWORD}).status_code == 302
    assert browser.get(reverse("orgadmin:organization-list")).status_code == 200
    return browser


def still_signed_in(browser: Client) -> bool:
    return browser.get(reverse("orgadmin:organization-list")).status_code == 200


class StaffPageTests:
    def test_lists_every_account_with_how_it_signs_in_and_its_sessions(self, client):
        make_user("vera", role="Viewer", email="vera@example.com")
        signed_in_browser("vera")
        signed_in_browser("vera")
        client.force_login(make_user("ada", role="Admin"))
        page = client.get(reverse("staff:staff-list")).content.decode()
        row = page[page.index("vera@example.com") :]
        row = row[: row.index("</tr>")]
        assert "Local password, <strong>no second factor</strong>" in row
        assert "<td>Viewer</td>" in row
        assert "<td>2</td>" in row
        assert "End sessions" in row

    def test_reads_the_same_few_queries_however_many_staff(self, client, django_assert_max_num_queries):
        client.force_login(make_user("ada", role="Admin"))
        for n in range(3):
            make_user(f"few-{n}", role="Viewer")
        with django_assert_max_num_queries(8) as few:
            client.get(reverse("staff:staff-list"))
        for n in range(30):
            make_user(f"many-{n}", role="Editor")
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(reverse("staff:staff-list")).status_code == 200


class EndingSessionsTests:
    def test_an_admin_ends_every_session_of_a_staff_member(self, client, caplog):
        vera = make_user("vera", role="Viewer")
        browsers = [signed_in_browser("vera"), signed_in_browser("vera")]
        bystander = signed_in_browser(make_user("ed", role="Editor").username)
        client.force_login(make_user("ada", role="Admin"))
        with caplog.at_level(logging.INFO, logger="orgadmin.security"):
            ended = client.post(reverse("staff:staff-end-sessions", args=[vera.pk]), follow=True)
        assert "Ended 2 session(s) of vera." in ended.content.decode()
        assert not any(still_signed_in(browser) for browser in browsers)
        assert still_signed_in(bystander)
        assert "Ended 2 session(s) of vera: ended by ada" in caplog.text

    def test_deactivating_an_account_ends_its_sessions(self):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        vera.is_active = False
        vera.save()
        assert not still_signed_in(browser)

    def test_removing_the_last_role_ends_the_sessions_and_not_before(self):
        vera = make_user("vera", role="Viewer")
        vera.groups.add(Group.objects.get(name="Editor"))
        browser = signed_in_browser("vera")
        vera.groups.remove(Group.objects.get(name="Editor"))
        assert still_signed_in(browser)
        vera.groups.remove(Group.objects.get(name="Viewer"))
        assert not still_signed_in(browser)

    def test_emptying_a_role_of_its_members_ends_their_sessions(self):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        Group.objects.get(name="Viewer").user_set.remove(vera)
        assert not still_signed_in(browser)
