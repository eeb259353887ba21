"""A staff member's sessions: the staff page, ending them, and their end when the account is
deactivated or loses its last role."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import store as audit_store
from audit.models import AuditEntry
from staff import browsers
from staff.sessions import SessionStore
from tests.factories import PASSWORD, make_user

User = get_user_model()

pytestmark = pytest.mark.django_db


FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME_ON_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def signed_in_browser(username: str, user_agent: str = FIREFOX_ON_WINDOWS, address: str = "127.0.0.1") -> Client:
    """A browser of the staff member's, signed in through the sign-in page."""
    browser = Client(headers={"User-Agent": user_agent}, REMOTE_ADDR=address)
    assert browser.post(reverse("account_login"), {"login": username, "password": PASSWORD}).status_code == 302
    assert browser.get(reverse("orgadmin:organization-list")).status_code == 200
    return browser


def open_session(user) -> None:
    """A session of the user's as allauth records one, without a sign-in (which is throttled)."""
    store = SessionStore()
    store.create()
    UserSession.objects.create(user=user, session_key=store.session_key, ip="192.0.2.1", user_agent=CHROME_ON_MAC)


def still_signed_in(browser: Client) -> bool:
    return browser.get(reverse("orgadmin:organization-list")).status_code == 200


def row_of(page: str, text: str) -> str:
    row = page[page.index(text) :]
    return row[: row.index("</tr>")]


class StaffPageTests:
    def test_lists_every_account_with_how_it_signs_in_and_its_sessions(self, client):
        make_user("vera", role="Viewer", email="vera@example.com")
        signed_in_browser("vera", FIREFOX_ON_WINDOWS, "192.0.2.10")
        signed_in_browser("vera", CHROME_ON_MAC, "198.51.100.7")
        make_user("ed", role="Editor", email="ed@example.com")
        signed_in_browser("ed")
        make_user("ina", role="Viewer", email="ina@example.com")
        client.force_login(make_user("ada", role="Admin"))
        page = client.get(reverse("staff:staff-list")).content.decode()
        row = row_of(page, "vera@example.com")
        assert "Local password, <strong>no second factor</strong>" in row
        assert "<td>Viewer</td>" in row
        assert "2 sessions" in row
        assert "Firefox on Windows at 192.0.2.10, last used <time" in row
        assert "Chrome on macOS at 198.51.100.7, last used <time" in row
        assert reverse("staff:staff-end-sessions", args=[User.objects.get(username="vera").pk]) in row
        assert "1 session\n" in row_of(page, "ed@example.com")
        assert "End sessions" not in row_of(page, "ina@example.com")

    def test_an_expired_session_is_not_listed(self, client):
        make_user("vera", role="Viewer", email="vera@example.com")
        signed_in_browser("vera")
        Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
        client.force_login(make_user("ada", role="Admin"))
        page = client.get(reverse("staff:staff-list")).content.decode()
        assert "None" in row_of(page, "vera@example.com")

    def test_last_use_moves_with_the_session_to_the_minute(self, client):
        make_user("vera", role="Viewer", email="vera@example.com")
        client.force_login(make_user("ada", role="Admin"))

        def last_used() -> str:
            row = row_of(client.get(reverse("staff:staff-list")).content.decode(), "vera@example.com")
            return row[row.index("last used") :].split(">")[1].split("<")[0]

        with time_machine.travel("2026-03-02 09:00:00Z", tick=False) as traveller:
            browser = signed_in_browser("vera")
            assert last_used() == "2026-03-02 09:00 UTC"
            traveller.shift(timedelta(minutes=20))
            assert still_signed_in(browser)
            assert last_used() == "2026-03-02 09:20 UTC"
            traveller.shift(timedelta(seconds=settings.PORTAL_SESSION_REFRESH - 1))
            assert still_signed_in(browser)  # within the minute: no write, the same last use
            assert last_used() == "2026-03-02 09:20 UTC"

    def test_reads_the_same_few_queries_however_many_staff(self, client, django_assert_max_num_queries):
        client.force_login(make_user("ada", role="Admin"))
        client.get(reverse("staff:staff-list"))  # warms the session
        for n in range(3):
            open_session(make_user(f"few-{n}", role="Viewer"))
        with django_assert_max_num_queries(8) as few:
            client.get(reverse("staff:staff-list"))
        for n in range(30):
            open_session(make_user(f"many-{n}", role="Editor"))
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(reverse("staff:staff-list")).status_code == 200


class EndingSessionsTests:
    def test_ending_asks_first_and_lists_the_sessions(self, client, django_assert_max_num_queries):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera", CHROME_ON_MAC, "198.51.100.7")
        client.force_login(make_user("ada", role="Admin"))
        client.get(reverse("staff:staff-list"))  # warms the session
        with django_assert_max_num_queries(6):
            page = client.get(reverse("staff:staff-end-sessions", args=[vera.pk])).content.decode()
        assert "End the sessions of vera?" in page
        assert "Chrome on macOS at 198.51.100.7" in page
        assert ">End 1 session</button>" in page
        assert 'name="confirmed" value="yes"' in page
        assert "signs you out here too" not in page
        assert still_signed_in(browser)

    def test_a_post_without_the_confirmation_ends_nothing(self, client):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        client.force_login(make_user("ada", role="Admin"))
        url = reverse("staff:staff-end-sessions", args=[vera.pk])
        answer = client.post(url)
        assert answer.status_code == 302
        assert answer["Location"] == url
        assert client.post(url, {"confirmed": "no"})["Location"] == url
        assert still_signed_in(browser)
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.STAFF_END_SESSIONS).exists()

    def test_an_admin_ends_every_session_of_a_staff_member(self, client, caplog):
        vera = make_user("vera", role="Viewer")
        browsers = [signed_in_browser("vera"), signed_in_browser("vera")]
        bystander = signed_in_browser(make_user("ed", role="Editor").username)
        client.force_login(make_user("ada", role="Admin"))
        with caplog.at_level(logging.INFO, logger="orgadmin.security"):
            ended = client.post(reverse("staff:staff-end-sessions", args=[vera.pk]), {"confirmed": "yes"}, follow=True)
        assert "Ended 2 sessions of vera." in ended.content.decode()
        assert not any(still_signed_in(browser) for browser in browsers)
        assert still_signed_in(bystander)
        assert "Ended 2 session(s) of vera: ended by ada" in caplog.text
        entry = AuditEntry.objects.get(action=AuditEntry.Action.STAFF_END_SESSIONS)
        assert entry.action == AuditEntry.Action.STAFF_END_SESSIONS
        assert entry.actor_username == "ada"
        assert entry.request_body == {"staff": "vera", "sessions": 2}

    def test_one_session_is_said_so(self, client):
        vera = make_user("vera", role="Viewer")
        signed_in_browser("vera")
        client.force_login(make_user("ada", role="Admin"))
        ended = client.post(reverse("staff:staff-end-sessions", args=[vera.pk]), {"confirmed": "yes"}, follow=True)
        assert "Ended 1 session of vera." in ended.content.decode()

    def test_nothing_is_ended_when_the_audit_log_refuses(self, client, monkeypatch):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        client.force_login(make_user("ada", role="Admin"))

        def refuse(entry, using=None):
            raise OSError("disk full")

        monkeypatch.setattr(audit_store, "append", refuse)
        answer = client.post(reverse("staff:staff-end-sessions", args=[vera.pk]), {"confirmed": "yes"}, follow=True)
        assert "no session was ended" in answer.content.decode()
        assert still_signed_in(browser)

    def test_the_signed_out_browser_is_told_why_once(self, client):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        client.force_login(make_user("ada", role="Admin"))
        client.post(reverse("staff:staff-end-sessions", args=[vera.pk]), {"confirmed": "yes"})
        sign_in = browser.get(reverse("orgadmin:organization-list"), follow=True)
        assert sign_in.redirect_chain[-1][0].startswith(reverse("account_login"))
        assert "You were signed out: ada, an Admin, ended your sessions." in sign_in.content.decode()
        assert "You were signed out" not in browser.get(reverse("account_login")).content.decode()

    def test_an_admin_ending_their_own_sessions_is_warned_and_signed_out(self, client):
        ada = make_user("ada", role="Admin")
        admin = signed_in_browser("ada")
        url = reverse("staff:staff-end-sessions", args=[ada.pk])
        assert "signs you out here too" in admin.get(url).content.decode()
        signed_out = admin.post(url, {"confirmed": "yes"}, follow=True)
        assert signed_out.redirect_chain[-1][0].startswith(reverse("account_login"))
        assert "You were signed out: ada, an Admin, ended your sessions." in signed_out.content.decode()

    def test_deactivating_an_account_ends_its_sessions(self):
        vera = make_user("vera", role="Viewer")
        browser = signed_in_browser("vera")
        vera.is_active = False
        vera.save()
        sign_in = browser.get(reverse("orgadmin:organization-list"), follow=True)
        assert "You were signed out: your account was deactivated." in sign_in.content.decode()

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


class BrowserNameTests:
    @pytest.mark.parametrize(
        ("user_agent", "named"),
        [
            (FIREFOX_ON_WINDOWS, "Firefox on Windows"),
            (CHROME_ON_MAC, "Chrome on macOS"),
            (CHROME_ON_MAC.replace("Safari/537.36", "Safari/537.36 Edg/131.0.0.0"), "Edge on macOS"),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            ("curl/8.5.0", "Unknown browser"),
            ("", "Unknown browser"),
        ],
    )
    def test_names_the_browser_as_a_person_would(self, user_agent, named):
        assert browsers.describe(user_agent) == named
