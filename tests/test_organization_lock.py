"""One write to an organization at a time (orgadmin/organizations/lock.py): two saves at once, a save
and a delete, a save and an approved change being sent, each started together behind a barrier
against the sandbox answering 200 ms late, through the real pages, several runs each. Exactly one
write reaches Polytomic every run; the other sees what the first did and sends nothing.

On PostgreSQL the lock is an advisory lock, held across processes and freed with its connection
(`AcrossProcessesTests`, collected on PostgreSQL only, as CI's PostgreSQL run does); on SQLite it
holds among one process's threads, which is what these tests start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from uuid import UUID

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.protocol import AuditContext
from devtools.sandbox import ACME_ID
from devtools.support import hidden_fields
from orgadmin.change_requests import requesting, sending
from orgadmin.models import ChangeRequest
from orgadmin.organizations import lock, queries
from orgadmin.polytomic.fields import OrganizationInput
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

RUNS = 5
LATENCY_MS = 200
EDIT = reverse("orgadmin:organization-edit", args=[ACME_ID])
DELETE = reverse("orgadmin:organization-delete", args=[ACME_ID])
CHANGED_MEANWHILE = "Someone changed this organization at Polytomic since you opened this form"
ACME = {"name": "Acme Corporation", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}


def signed_in(username: str, role: str) -> Client:
    browser = Client()
    browser.force_login(make_user(username, role=role))
    return browser


def requested_removal_of_saml(requester) -> ChangeRequest:
    """A change request of `requester`'s, waiting: Acme without its SAML SSO."""
    context = AuditContext(actor=requester)
    acme = queries.organization_get(context=context, organization_id=UUID(ACME_ID))
    return requesting.request_update(
        context=context, organization=acme, data=OrganizationInput(name="Acme Corporation"), summary={},
        reason="The customer leaves single sign-on (ticket 77)",
    )  # fmt: skip


def writes(sandbox) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] in ("POST", "PUT", "DELETE")]


def slow(sandbox) -> None:
    """The sandbox, fresh, answering every request LATENCY_MS late."""
    sandbox.sandbox.reset()
    assert sandbox.sandbox.set_faults(json.dumps({"latency_ms": LATENCY_MS}).encode()).status == 200


def together(*posts: Callable[[], object]) -> list:
    """Runs the posts in threads of their own, started at once behind a barrier; their answers."""
    start = threading.Barrier(len(posts))
    answers: list = [None] * len(posts)

    def run(index: int) -> None:
        try:
            start.wait(timeout=10)
            answers[index] = posts[index]()
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(answer is not None for answer in answers), answers
    return answers


def page(answer) -> str:
    return answer.content.decode()


class SimultaneousWritesTests:
    def test_of_two_saves_at_once_one_is_sent_and_the_other_is_told_what_changed(self, sandbox):
        ed, eve = signed_in("ed", "Editor"), signed_in("eve", "Editor")
        for _ in range(RUNS):
            slow(sandbox)
            forms = [hidden_fields(page(browser.get(EDIT))) for browser in (ed, eve)]
            names = ["Acme by Ed", "Acme by Eve"]
            answers = together(*[
                lambda browser=browser, form=form, name=name: browser.post(EDIT, ACME | form | {"name": name})
                for browser, form, name in zip((ed, eve), forms, names, strict=True)
            ])  # fmt: skip
            assert [r["method"] for r in writes(sandbox)] == ["PUT"]
            assert sorted(answer.status_code for answer in answers) == [200, 302]
            [won] = [index for index, answer in enumerate(answers) if answer.status_code == 302]
            lost = 1 - won
            assert sandbox.sandbox.organizations[ACME_ID].name == names[won]
            told = page(answers[lost])
            assert CHANGED_MEANWHILE in told
            assert f"Name: “Acme Corporation” → “{names[won]}”" in told
            assert f'value="{names[lost]}"' in told  # what the loser typed, kept

    def test_a_save_and_a_delete_at_once_send_one_of_them(self, sandbox):
        ed, ada = signed_in("ed", "Editor"), signed_in("ada", "Admin")
        for _ in range(RUNS):
            slow(sandbox)
            form, confirmation = hidden_fields(page(ed.get(EDIT))), hidden_fields(page(ada.get(DELETE)))
            saved, deleted = together(
                lambda form=form: ed.post(EDIT, ACME | form | {"name": "Acme Renamed"}),
                lambda form=confirmation: ada.post(DELETE, form | {"confirm_name": "Acme Corporation"}),
            )
            [write] = writes(sandbox)
            if write["method"] == "PUT":  # the save first: the delete's fresh read finds it changed
                assert saved.status_code == 302
                assert deleted.status_code == 422
                assert "Someone changed this organization at Polytomic since you opened this page" in page(deleted)
                assert "Name: “Acme Corporation” → “Acme Renamed”" in page(deleted)
                assert 'value="Acme Corporation"' in page(deleted)  # what was typed, kept
                assert sandbox.sandbox.organizations[ACME_ID].name == "Acme Renamed"
            else:  # the delete first: the save's fresh read finds the organization gone
                assert write["method"] == "DELETE"
                assert deleted.status_code == 302
                assert (saved.status_code, saved["Location"]) == (302, reverse("orgadmin:organization-list"))
                assert ACME_ID not in sandbox.sandbox.organizations

    def test_a_save_and_an_approved_change_at_once_send_one_of_them(self, sandbox, settings):
        settings.PORTAL_FOUR_EYES = True
        ed = make_user("ed", role="Editor")
        bea, ada = signed_in("bea", "Editor"), signed_in("ada", "Admin")
        for _ in range(RUNS):
            slow(sandbox)
            change = requested_removal_of_saml(ed)
            form = hidden_fields(page(bea.get(EDIT)))
            sandbox.sandbox.received.clear()
            saved, _ = together(
                lambda form=form: bea.post(EDIT, ACME | form | {"name": "Acme Renamed"}),
                lambda change=change: ada.post(
                    reverse("orgadmin:change-decide", args=[change.pk]), {"decision": "approve"}
                ),
            )
            [put] = writes(sandbox)
            change.refresh_from_db()
            if put["body"]["name"] == "Acme Renamed":  # the save first
                assert saved.status_code == 302
                assert (change.status, change.result) == (
                    ChangeRequest.Status.VOID,
                    "The organization changed at Polytomic since the request: nothing was sent.",
                )
            else:  # the approved change first: the save is told SAML SSO went
                assert change.status == ChangeRequest.Status.EXECUTED
                assert saved.status_code == 200
                assert CHANGED_MEANWHILE in page(saved)
                assert 'value="Acme Renamed"' in page(saved)

    def test_of_two_requests_of_a_kind_asked_at_once_one_is_accepted(self, sandbox):
        """Refusing a second request of a kind while one waits is decided under the organization's
        lock: asked at once, with none waiting, one is recorded and the other refused."""
        requesters = make_user("ed", role="Editor"), make_user("eve", role="Editor")

        def ask(requester) -> str:
            try:
                requested_removal_of_saml(requester)
            except requesting.AlreadyWaiting:
                return "refused"
            return "accepted"

        for _ in range(RUNS):
            slow(sandbox)  # both read Acme first, and ask as their reads end, at once
            answers = together(*[lambda requester=requester: ask(requester) for requester in requesters])
            assert sorted(answers) == ["accepted", "refused"]
            [waiting] = ChangeRequest.objects.filter(ChangeRequest.waiting_q(), organization_id=ACME_ID)
            assert waiting.requested_by == requesters[answers.index("accepted")]
            ChangeRequest.objects.filter(pk=waiting.pk).update(status=ChangeRequest.Status.WITHDRAWN)


class WaitTests:
    @pytest.fixture
    def held_elsewhere(self, monkeypatch):
        """ACME's lock held by another thread until the test ends; a write waits for it 0.3 s."""
        monkeypatch.setattr(lock, "wait_seconds", lambda: 0.3)
        taken, done = threading.Event(), threading.Event()

        def hold() -> None:
            try:
                with lock.held(ACME_ID):
                    taken.set()
                    done.wait(30)
            finally:
                connection.close()

        holder = threading.Thread(target=hold)
        holder.start()
        assert taken.wait(10)
        yield
        done.set()
        holder.join(10)

    def test_a_save_that_waits_too_long_sends_nothing_and_keeps_what_was_typed(self, sandbox, held_elsewhere):
        ed = signed_in("ed", "Editor")
        form = hidden_fields(page(ed.get(EDIT)))
        sandbox.sandbox.received.clear()
        answer = ed.post(EDIT, ACME | form | {"name": "Acme Waited"})
        assert answer.status_code == 200
        assert lock.BUSY in page(answer)
        assert 'value="Acme Waited"' in page(answer)
        assert sandbox.sandbox.received == []  # not even the fresh read

    def test_a_change_request_that_waits_too_long_is_not_recorded(self, sandbox, held_elsewhere):
        with pytest.raises(lock.Busy):
            requested_removal_of_saml(make_user("ed", role="Editor"))
        assert not ChangeRequest.objects.exists()

    def test_a_delete_that_waits_too_long_sends_nothing(self, sandbox, held_elsewhere):
        answer = signed_in("ada", "Admin").post(DELETE, {"confirm_name": "Acme Corporation"})
        assert answer.status_code == 200
        assert "Another save is in progress" in page(answer)
        assert lock.BUSY in page(answer)
        assert sandbox.sandbox.received == []

    def test_an_approved_change_that_waits_too_long_fails_unsent_to_be_sent_again(self, sandbox, settings, request):
        settings.PORTAL_FOUR_EYES = True
        change = requested_removal_of_saml(make_user("ed", role="Editor"))  # requested under the lock, free then
        request.getfixturevalue("held_elsewhere")
        sandbox.sandbox.received.clear()
        ended = sending.approve(
            context=AuditContext(actor=make_user("ada", role="Admin")), change_request_id=change.pk, comment=""
        )
        assert (ended.status, ended.result) == (ChangeRequest.Status.FAILED, lock.BUSY)
        assert sandbox.sandbox.received == []


ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# A process of its own that takes an organization's lock on a connection of its own, says so, and
# holds it until it is killed: another worker, or another instance, of the portal.
HOLDER = """
import sys, psycopg
connection = psycopg.connect(sys.argv[1], autocommit=True)
connection.execute("SELECT pg_advisory_lock(%s, %s)", [int(sys.argv[2]), int(sys.argv[3])])
print("held", flush=True)
sys.stdin.read()
"""

if ON_POSTGRESQL:

    class AcrossProcessesTests:
        """PostgreSQL's advisory lock holds against another process, and dies with it."""

        def test_a_lock_held_by_another_process_holds_until_that_process_is_killed(self, sandbox, monkeypatch):
            monkeypatch.setattr(lock, "wait_seconds", lambda: 0.3)
            database = connection.settings_dict
            dsn = (
                f"host={database['HOST']} port={database['PORT'] or 5432} dbname={database['NAME']} "
                f"user={database['USER']} password='{database['PASSWORD']}'"
            )
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLDER, dsn, *map(str, lock.lock_key(ACME_ID))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ},
            )  # fmt: skip
            try:
                assert holder.stdout.readline().strip() == b"held"
                ed = signed_in("ed", "Editor")
                form = hidden_fields(page(ed.get(EDIT)))
                waited = ed.post(EDIT, ACME | form | {"name": "Acme Elsewhere"})
                assert lock.BUSY in page(waited)
                assert writes(sandbox) == []
                holder.send_signal(signal.SIGKILL)  # the worker dies holding it: its connection goes
                holder.wait(10)
                monkeypatch.setattr(lock, "wait_seconds", lambda: 10)
                saved = ed.post(EDIT, ACME | form | {"name": "Acme Elsewhere"})
                assert saved.status_code == 302
                assert [r["method"] for r in writes(sandbox)] == ["PUT"]
            finally:
                holder.kill()
                holder.wait(10)
