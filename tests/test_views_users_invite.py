"""Inviting many people at once: each email its own call, with its own Idempotency-Key and audit
entries; what is not invited is kept in the form with its reason."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID
from devtools.support import hidden_fields
from orgadmin.people.forms import INVITES_AT_MOST
from tests.factories import make_user

pytestmark = pytest.mark.django_db

URL = reverse("orgadmin:user-invite", args=[ACME_ID])
USERS = f"/api/organizations/{ACME_ID}/users"


@pytest.fixture
def as_editor(client):
    client.force_login(make_user("ed", role="Editor"))
    return client


def member_role(sandbox) -> str:
    return next(r.id for r in sandbox.sandbox.roles.values() if r.organization_id == ACME_ID and r.name == "Member")


def invites_sent(sandbox) -> list[dict]:
    return [r for r in sandbox.sandbox.received if r["method"] == "POST" and r["path"] == USERS]


def members(sandbox) -> set[str]:
    return {u.email for u in sandbox.sandbox.users.values() if u.organization_id == ACME_ID}


def refuse_next_invite(sandbox, message: str) -> None:
    """Polytomic's 422 on the next invite sent (the first valid line)."""
    answer = {"status": 422, "body": {"status": 422, "message": message, "metadata": {"email": message}}}
    sandbox.sandbox.faults.queue.append({"method": "POST", "path": USERS, "answer": answer})


class BulkInviteTests:
    def test_one_call_per_valid_line_and_every_other_line_kept_with_its_reason(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        refuse_next_invite(sandbox, "this domain may not be invited")
        typed = "refused@acme.example\nNew.One@acme.example, new.one@ACME.example\nnot an email\n\n"
        typed += "analyst@acme.example,two@acme.example"
        page = as_editor.post(URL, {"email": typed, "role_ids": [member_role(sandbox)]} | form)

        assert page.status_code == 422
        sent = invites_sent(sandbox)
        assert [r["body"]["email"] for r in sent] == [
            "refused@acme.example",
            "new.one@acme.example",
            "two@acme.example",
        ]
        assert len({r["headers"]["idempotency-key"] for r in sent}) == 3
        assert {"new.one@acme.example", "two@acme.example"} <= members(sandbox)
        assert "refused@acme.example" not in members(sandbox)
        html = page.content.decode()
        assert re.findall(r"<li>(.*?)</li>", re.search(r'<ul id="invited">(.*?)</ul>', html, re.S)[1]) == [
            "new.one@acme.example",
            "two@acme.example",
        ]
        assert re.search(
            r"<textarea[^>]*>\s*refused@acme\.example\nnew\.one@ACME\.example\nnot an email\n"
            r"analyst@acme\.example</textarea>",
            html,
        )
        errors = re.search(r'id="id_email_error"[^>]*>(.*?)</ul>', html, re.S)[1]
        for line, reason in [
            ("refused@acme.example", "This domain may not be invited."),
            ("new.one@ACME.example", "Listed twice"),
            ("not an email", "Not an email address."),
            ("analyst@acme.example", "Already in this organization."),
        ]:
            assert f"“{line}”: {reason}" in errors
        assert AuditEntry.objects.filter(action="user.invite", phase="attempt").count() == 3
        outcomes = AuditEntry.objects.filter(action="user.invite", phase="outcome")
        assert sorted(outcomes.values_list("outcome", flat=True)) == ["ok", "ok", "rejected"]

    def test_a_form_submitted_twice_sends_nothing_twice(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        posted = {"email": "one@acme.example\ntwo@acme.example", "role_ids": [member_role(sandbox)]} | form
        assert as_editor.post(URL, posted).status_code == 302
        again = as_editor.post(URL, posted)
        assert len(invites_sent(sandbox)) == 2
        assert again.status_code == 422
        assert "“one@acme.example”: Already in this organization." in again.content.decode()

    def test_the_same_line_sent_again_carries_the_same_key(self, as_editor, sandbox):
        # Until the users list shows the first invitation (a lost answer, a read served late),
        # a second submission is refused by Polytomic's replay of the first, not invited twice.
        form = hidden_fields(as_editor.get(URL).content.decode())
        posted = {"email": "one@acme.example", "role_ids": [member_role(sandbox)]} | form
        as_editor.post(URL, posted)
        sandbox.sandbox.users = {k: u for k, u in sandbox.sandbox.users.items() if u.email != "one@acme.example"}
        as_editor.post(URL, posted)
        first, second = invites_sent(sandbox)
        assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"]
        other = hidden_fields(as_editor.get(URL).content.decode())
        as_editor.post(URL, posted | other)
        assert invites_sent(sandbox)[-1]["headers"]["idempotency-key"] != first["headers"]["idempotency-key"]

    def test_a_lost_answer_stops_the_list_and_says_the_outcome_is_not_known(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": USERS, "fault": "drop"})
        posted = {"email": "one@acme.example\ntwo@acme.example\nthree@acme.example", "role_ids": [member_role(sandbox)]}
        page = as_editor.post(URL, posted | form)
        html = page.content.decode()
        assert len(invites_sent(sandbox)) == 1  # not sent on into the failure
        assert page.status_code == 200  # Polytomic failed, not the input
        assert re.search(r'<ul id="unknown">\s*<li>one@acme\.example:', html)
        assert "Perhaps invited" in html
        assert "“two@acme.example”: Not sent: " in html
        assert re.search(
            r"<textarea[^>]*>\s*one@acme\.example\ntwo@acme\.example\nthree@acme\.example</textarea>", html
        )
        assert "one@acme.example" in members(sandbox)  # the sandbox did it; its answer was lost
        # Sent again as kept: the one perhaps invited is found in the organization, the rest sent.
        again = as_editor.post(URL, posted | form)
        assert [r["body"]["email"] for r in invites_sent(sandbox)[1:]] == ["two@acme.example", "three@acme.example"]
        assert "“one@acme.example”: Already in this organization." in again.content.decode()

    def test_polytomic_failing_stops_the_list(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        sandbox.sandbox.faults.queue.append({"method": "POST", "path": USERS, "fault": "status:503"})
        page = as_editor.post(
            URL, {"email": "one@acme.example,two@acme.example", "role_ids": [member_role(sandbox)]} | form
        )
        assert len(invites_sent(sandbox)) == 1
        html = page.content.decode()
        assert "Perhaps invited" not in html
        assert "“one@acme.example”: Polytomic is not able to answer right now" in html
        assert "“two@acme.example”: Not sent: Polytomic is not able to answer right now" in html

    def test_at_most_so_many_lines(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        typed = "\n".join(f"p{n}@acme.example" for n in range(INVITES_AT_MOST + 1))
        page = as_editor.post(URL, {"email": typed, "role_ids": [member_role(sandbox)]} | form)
        assert page.status_code == 422
        assert (
            f"Enter at most {INVITES_AT_MOST} emails at a time (there are {INVITES_AT_MOST + 1})"
            in page.content.decode()
        )
        assert not invites_sent(sandbox)

    def test_lines_that_are_all_refused_send_nothing(self, as_editor, sandbox):
        form = hidden_fields(as_editor.get(URL).content.decode())
        page = as_editor.post(URL, {"email": "nope\nanalyst@acme.example", "role_ids": [member_role(sandbox)]} | form)
        assert page.status_code == 422
        assert not invites_sent(sandbox)


def test_the_invite_page_reads_a_few_queries_however_many_users(as_editor, sandbox, django_assert_max_num_queries):
    # Three calls (organization, users, roles), each recorded; the session, the user, their permissions.
    # On PostgreSQL each entry takes the chain's lock in one more query.
    with django_assert_max_num_queries(22 if connection.vendor == "sqlite" else 24) as few:
        as_editor.get(URL)
    analyst = next(u for u in sandbox.sandbox.users.values() if u.email == "analyst@acme.example")
    for n in range(40):
        sandbox.sandbox.users[f"u{n}"] = type(analyst)(
            f"00000000-0000-4000-8000-{n:012d}", ACME_ID, f"u{n}@acme.example", analyst.role_ids
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert as_editor.get(URL).status_code == 200
