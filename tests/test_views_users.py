"""A customer organization's people in the portal's pages: listed, invited, re-roled, removed,
and an API key minted and shown once."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, INITECH_ID
from devtools.support import hidden_fields
from orgadmin.models import ApiKeyFormToken
from orgadmin.people import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


@pytest.fixture
def as_admin(client):
    client.force_login(make_user("ada", role="Admin"))
    return client


def acme_role(sandbox, name: str) -> str:
    return next(r.id for r in sandbox.sandbox.roles.values() if r.organization_id == ACME_ID and r.name == name)


def acme_user(sandbox, email: str):
    return next(u for u in sandbox.sandbox.users.values() if u.organization_id == ACME_ID and u.email == email)


def posted(sandbox, method: str) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == method]


class UserListTests:
    def test_lists_users_with_their_roles_by_name_and_finds_them(self, client, sandbox):
        client.force_login(make_user("vera", role="Viewer"))
        page = client.get(reverse("orgadmin:user-list", args=[ACME_ID])).content.decode()
        assert "it-admin@acme.example" in page
        assert re.search(r"analyst@acme\.example</td>\s*<td>Member</td>", page)
        assert "Invite users" not in page  # a Viewer sees, and no more
        found = client.get(reverse("orgadmin:user-list", args=[ACME_ID]), {"q": "ANALYST"}).content.decode()
        assert "analyst@acme.example" in found
        assert "it-admin@acme.example" not in found
        sandbox.sandbox.users.clear()
        assert (
            "This organization has no users yet."
            in client.get(reverse("orgadmin:user-list", args=[ACME_ID])).content.decode()
        )

    def test_says_when_polytomic_fails(self, as_editor, sandbox):
        sandbox.sandbox.faults.queue.append(
            {"method": "GET", "path": f"/api/organizations/{ACME_ID}/users", "fault": "status:500"}
        )
        page = as_editor.get(reverse("orgadmin:user-list", args=[ACME_ID]))
        assert page.status_code == 200
        assert "Polytomic did not answer as expected" in page.content.decode()

    def test_roles_that_cannot_be_read_leave_the_users_listed_by_role_id(self, as_editor, sandbox):
        refused = {"method": "GET", "path": "/api/permissions/roles", "fault": "status:400"}
        sandbox.sandbox.faults.queue.append(refused)
        response = as_editor.get(reverse("orgadmin:user-list", args=[ACME_ID]))
        page = response.content.decode()
        assert response.status_code == 200
        assert "The roles could not be read" in page
        assert "Each user's roles are shown by their ids." in page
        member = acme_role(sandbox, "Member")
        assert re.search(rf"analyst@acme\.example</td>\s*<td>{member}</td>", page)
        # The pages that need the roles to choose from still say that Polytomic failed.
        sandbox.sandbox.faults.queue.append(refused)
        invite = as_editor.get(reverse("orgadmin:user-invite", args=[ACME_ID])).content.decode()
        assert "Polytomic did not answer as expected" in invite

    def test_reads_a_few_queries_however_many_users(self, as_editor, sandbox, django_assert_max_num_queries):
        # Three calls, each recorded (five queries each on PostgreSQL, whose append also takes the
        # chain's advisory lock), the two reads each after a look in the shared cache (is the audit
        # log refusing entries?); the session, the user, their permissions.
        with django_assert_max_num_queries(24) as few:
            as_editor.get(reverse("orgadmin:user-list", args=[ACME_ID]))
        for n in range(40):
            user = acme_user(sandbox, "analyst@acme.example")
            sandbox.sandbox.users[str(uuid.uuid4())] = type(user)(
                str(uuid.uuid4()), ACME_ID, f"u{n}@acme.example", user.role_ids
            )
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert as_editor.get(reverse("orgadmin:user-list", args=[ACME_ID])).status_code == 200


class InviteTests:
    def test_invites_with_the_roles_chosen_and_the_email_lower_cased(self, as_editor, sandbox):
        url = reverse("orgadmin:user-invite", args=[ACME_ID])
        form = as_editor.get(url)
        assert "Data steward" in form.content.decode()
        roles = [acme_role(sandbox, "Member"), acme_role(sandbox, "Data steward")]
        done = as_editor.post(
            url, {"email": " New.Person@Acme.Example ", "role_ids": roles} | hidden_fields(form.content.decode())
        )
        assert done.status_code == 302
        [sent] = posted(sandbox, "POST")
        assert sent["body"] == {"email": "new.person@acme.example", "role_ids": roles}
        assert sent["headers"].get("idempotency-key")
        assert AuditEntry.objects.filter(action="user.invite", phase="outcome", outcome="ok").count() == 1

    def test_polytomics_refusal_lands_on_the_field_and_nothing_else_is_lost(self, as_editor, sandbox):
        url = reverse("orgadmin:user-invite", args=[ACME_ID])
        form = hidden_fields(as_editor.get(url).content.decode())
        sandbox.sandbox.faults.queue.append(
            {
                "method": "POST",
                "answer": {"status": 422, "body": {"status": 422, "metadata": {"email": "domain not allowed"}}},
            }
        )
        refused = as_editor.post(url, {"email": "new@acme.example", "role_ids": [acme_role(sandbox, "Admin")]} | form)
        assert refused.status_code == 422
        page = refused.content.decode()
        assert re.search(r'id="id_email_error"[^>]*>.*new@acme\.example”: Domain not allowed\.', page, re.S)
        assert re.search(r"<textarea[^>]*>\s*new@acme\.example</textarea>", page)
        assert 'value="' + acme_role(sandbox, "Admin") + '"' in page

    def test_a_role_must_be_chosen_and_an_email_valid(self, as_editor, sandbox):
        url = reverse("orgadmin:user-invite", args=[ACME_ID])
        form = hidden_fields(as_editor.get(url).content.decode())
        refused = as_editor.post(url, {"email": "not an email"} | form)
        assert refused.status_code == 422
        assert "Choose at least one role." in refused.content.decode()
        assert not posted(sandbox, "POST")


class RolesAndRemovalTests:
    def test_changes_only_the_roles_sending_the_email_as_it_is(self, as_editor, sandbox):
        analyst = acme_user(sandbox, "analyst@acme.example")
        url = reverse("orgadmin:user-roles", args=[ACME_ID, analyst.id])
        form = as_editor.get(url)
        roles = [acme_role(sandbox, "Admin")]
        assert as_editor.post(url, {"role_ids": roles} | hidden_fields(form.content.decode())).status_code == 302
        [sent] = posted(sandbox, "PUT")
        assert sent["body"] == {"email": "analyst@acme.example", "role_ids": roles}
        assert analyst.role_ids == roles

    def test_removing_needs_the_email_typed(self, as_editor, sandbox):
        analyst = acme_user(sandbox, "analyst@acme.example")
        url = reverse("orgadmin:user-remove", args=[ACME_ID, analyst.id])
        assert as_editor.post(url, {"confirm_email": "someone@else.example"}).status_code == 422
        assert not posted(sandbox, "DELETE")
        assert as_editor.post(url, {"confirm_email": "ANALYST@acme.example"}).status_code == 302
        assert analyst.id not in sandbox.sandbox.users
        assert as_editor.get(url).status_code == 302  # gone: back to the list


class ApiKeyTests:
    def test_an_editor_cannot_mint_keys(self, as_editor, sandbox):
        analyst = acme_user(sandbox, "analyst@acme.example")
        assert as_editor.get(reverse("orgadmin:user-key", args=[ACME_ID, analyst.id])).status_code == 403

    def test_the_key_is_shown_once_and_found_nowhere_after(self, as_admin, sandbox, caplog):
        analyst = acme_user(sandbox, "analyst@acme.example")
        url = reverse("orgadmin:user-key", args=[ACME_ID, analyst.id])
        form = hidden_fields(as_admin.get(url).content.decode())
        with caplog.at_level(logging.DEBUG):
            shown = as_admin.post(url, form)
            key = analyst.api_key
            assert key
            assert key in shown.content.decode()
            assert "no-store" in shown["Cache-Control"]
            again = as_admin.post(url, form)  # the page reloaded: the form posted again
            later = [
                as_admin.get(path).content.decode() for path in (url, reverse("orgadmin:user-list", args=[ACME_ID]))
            ]
        assert "shown once, and is not shown again" in again.content.decode()
        assert len(posted(sandbox, "POST")) == 1  # nothing minted the second time
        session = str(dict(as_admin.session.items()))
        for text in (again.content.decode(), *later, caplog.text, session, str(list(AuditEntry.objects.values()))):
            assert key not in text
        entry = AuditEntry.objects.get(action="user.key", phase="outcome")
        assert (entry.outcome, entry.actor_username, entry.path.endswith("?force=false")) == ("ok", "ada", True)

    def test_a_user_with_a_key_gets_a_new_one_only_by_replacing_it(self, as_admin, sandbox):
        analyst = acme_user(sandbox, "analyst@acme.example")
        url = reverse("orgadmin:user-key", args=[ACME_ID, analyst.id])
        as_admin.post(url, hidden_fields(as_admin.get(url).content.decode()))
        first = analyst.api_key
        page = as_admin.get(url).content.decode()
        assert "This portal created a key for this user on" in page
        refused = as_admin.post(url, hidden_fields(page))
        assert "pass force=true" in refused.content.decode()  # Polytomic's refusal, said
        assert analyst.api_key == first
        replaced = as_admin.post(url, hidden_fields(refused.content.decode()) | {"force": "on"})
        assert analyst.api_key != first
        assert analyst.api_key in replaced.content.decode()


def test_an_organization_of_another_partner_is_refused(as_editor):
    page = as_editor.get(reverse("orgadmin:user-list", args=["7a1f0c2e-0000-4000-8000-0000000000ff"]))
    assert page.status_code == 200
    assert "another partner" in page.content.decode()


def test_an_organization_without_users(as_editor, sandbox):
    assert "Invite users" in as_editor.get(reverse("orgadmin:user-list", args=[INITECH_ID])).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_same_key_form_posted_four_times_at_once_shows_one_key(sandbox):
    """A reload, a double click, or a script: posts of one form that race each other mint and
    show one key, whichever arrives first (the form asks to replace a key, which Polytomic does
    each time it is asked)."""
    admin = Client()
    admin.force_login(make_user("ada", role="Admin"))
    analyst = acme_user(sandbox, "analyst@acme.example")
    url = reverse("orgadmin:user-key", args=[ACME_ID, analyst.id])
    form = hidden_fields(admin.get(url).content.decode()) | {"force": "on"}
    browsers = []
    for _ in range(4):  # one browser's tabs: the same session
        browser = Client()
        browser.cookies = admin.cookies
        browsers.append(browser)
    start = threading.Barrier(len(browsers))
    answers: list[str] = []

    def post(browser: Client) -> None:
        try:
            start.wait(timeout=10)
            answers.append(browser.post(url, form).content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(browser,)) for browser in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == len(browsers)
    minted = [request for request in posted(sandbox, "POST") if request["path"].endswith("/keys")]
    assert len(minted) == 1
    assert sum(analyst.api_key in answer for answer in answers) == 1
    assert sum("shown once, and is not shown again" in answer for answer in answers) == len(browsers) - 1


class ApiKeyFormTokenTests:
    """The API key form's token mints once, for the staff member it was handed to, while fresh."""

    def test_a_token_is_taken_once_by_its_own_staff_member(self, settings):
        ada, bea = make_user("ada", role="Admin"), make_user("bea", role="Admin")
        token = services.api_key_form_token(staff=ada)
        assert not services.api_key_form_token_take(staff=bea, token=token)
        assert not services.api_key_form_token_take(staff=ada, token=token + "x")
        assert services.api_key_form_token_take(staff=ada, token=token)
        assert not services.api_key_form_token_take(staff=ada, token=token)
        old = services.api_key_form_token(staff=ada)
        later = timezone.now() + timedelta(seconds=settings.PORTAL_SESSION_MAX_AGE + 1)
        with time_machine.travel(later):
            assert not services.api_key_form_token_take(staff=ada, token=old)

    def test_only_the_latest_forms_are_kept(self):
        ada = make_user("ada", role="Admin")
        tokens = [services.api_key_form_token(staff=ada) for _ in range(services.API_KEY_FORMS_KEPT + 3)]
        assert ApiKeyFormToken.objects.filter(staff=ada).count() == services.API_KEY_FORMS_KEPT
        assert not services.api_key_form_token_take(staff=ada, token=tokens[0])
        assert services.api_key_form_token_take(staff=ada, token=tokens[-services.API_KEY_FORMS_KEPT])
