"""Polytomic's words as the portal shows them: each message a sentence, escaped like any text,
wherever it appears; and a name taken linking to the organization that holds it."""

from __future__ import annotations

import html
import json
import re
import uuid

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.sandbox.organizations import StoredOrganization
from devtools.support import hidden_fields
from orgadmin.organizations.forms import OrganizationForm
from orgadmin.polytomic.errors import failure_for_answer
from orgadmin.polytomic.text import SENTENCE_ENDS, as_sentence
from orgadmin.polytomic.transport import Answer

CREATE = reverse("orgadmin:organization-create")
ONBOARDING = reverse("orgadmin:onboarding-new")


def refusal(status: int, body: dict) -> Answer:
    return Answer(status=status, headers={"Content-Type": "application/json"}, text=json.dumps(body), json=body,
                  is_json=True)  # fmt: skip


def same_quotes(page: str) -> str:
    """The page with quotes escaped as `html.escape` writes them (templates write "&#34;" too)."""
    return page.replace("&#34;", "&quot;").replace("&#39;", "&#x27;")


def is_a_sentence(text: str) -> bool:
    """Begins with a capital (where its first letter has one) and ends as a sentence does."""
    first = text[0]
    return text.endswith(SENTENCE_ENDS) and (not first.islower() or first.title() == first)


class AsSentenceTests:
    @pytest.mark.parametrize(
        ("said", "shown"),
        [
            ("organization name already exists", "Organization name already exists."),
            ("  issuer is not reachable  ", "Issuer is not reachable."),
            ("Already a sentence.", "Already a sentence."),
            ("is it taken?", "Is it taken?"),
            ("client_id and client_secret go together:", "Client_id and client_secret go together."),
            ("ßig", "Ssig."),
            ("", ""),
            ("   ", ""),
        ],
    )
    def test_examples(self, said, shown):
        assert as_sentence(said) == shown

    @given(st.text())
    @example("<script>alert(1)</script>")
    @example("a & b \"quoted\" 'x'")
    def test_any_text_becomes_a_sentence_with_its_words_kept(self, text):
        shown = as_sentence(text)
        if not text.strip():
            assert shown == ""
            return
        assert is_a_sentence(shown)
        assert text.strip()[1:].rstrip(",;:") in shown


@pytest.mark.django_db
class ShownTests:
    """Whatever Polytomic says, on a field or above the form, reaches the page as a sentence
    and escaped (the client makes it a sentence once; the page escapes it as any text)."""

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(said=st.text(min_size=1, max_size=200), status=st.sampled_from([409, 422]))
    @example(said='<b>taken</b> & "gone"', status=422)
    @example(said="organization name already exists", status=409)
    def test_any_upstream_text_is_a_sentence_and_escaped(self, said, status):
        body = {"message": said} if status == 409 else {"message": said, "metadata": {"name": said}}
        error = failure_for_answer(refusal(status, body), idempotency_key="", scrub=lambda text: text)
        form = OrganizationForm({"name": "Hooli", "form_key": "a" * 32})
        form.is_valid()
        form.add_upstream_error(error)
        page = render_to_string("orgadmin/_organization_form.html", {"form": form, "creating": True})
        messages = [*form.errors.get("name", []), *form.non_field_errors()]
        assert messages
        for message in messages:
            assert is_a_sentence(message)
            assert html.escape(message) in same_quotes(page)
        if "<" in said:
            assert "<b>taken" not in page


@pytest.mark.django_db
class NameTakenTests:
    """A name Polytomic says is taken links to the organization that holds it, looked up by name
    through the audited list; no link when none holds it."""

    @pytest.fixture
    def as_editor(self, client, editor):
        client.force_login(editor)
        return client

    def lookups(self) -> int:
        return AuditEntry.objects.filter(action="organization.list", actor_username="ed").count()

    def test_on_create(self, as_editor, sandbox):
        page = as_editor.get(CREATE).content.decode()
        answer = as_editor.post(CREATE, hidden_fields(page) | {"name": "acme corporation"})
        shown = answer.content.decode()
        assert answer.status_code == 422
        errors = re.search(r'id="id_name_error"[^>]*>(.*?)</ul>', shown, re.S)[1]
        assert "An organization with this name already exists." in errors
        assert f'It is the name of <a href="/organizations/{ACME_ID}/">Acme Corporation</a>.' in errors
        assert self.lookups() == 1

    def test_on_edit(self, as_editor, sandbox):
        page = as_editor.get(reverse("orgadmin:organization-edit", args=[ACME_ID])).content.decode()
        fields = hidden_fields(page) | {"name": "GLOBEX", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
        answer = as_editor.post(reverse("orgadmin:organization-edit", args=[ACME_ID]), fields)
        assert answer.status_code == 422
        assert f'It is the name of <a href="/organizations/{GLOBEX_ID}/">Globex</a>.' in answer.content.decode()

    def test_on_onboarding(self, as_editor, sandbox):
        page = as_editor.get(ONBOARDING).content.decode()
        answer = as_editor.post(ONBOARDING, hidden_fields(page) | {"name": "Acme Corporation"})
        assert answer.status_code == 422
        assert f'<a href="/organizations/{ACME_ID}/">Acme Corporation</a>' in answer.content.decode()
        assert "An organization with this name already exists." in answer.content.decode()
        lookup = AuditEntry.objects.get(action="organization.list", actor_username="ed")
        assert lookup.correlation_id is not None  # among the flow's calls

    def test_no_link_when_no_organization_holds_it(self, as_editor, sandbox):
        said = {"status": 409, "message": "organization name already exists"}
        sandbox.sandbox.faults.queue.append({"method": "POST", "answer": {"status": 409, "body": said}})
        page = as_editor.get(CREATE).content.decode()
        answer = as_editor.post(CREATE, hidden_fields(page) | {"name": "Nobody Holds This"})
        shown = answer.content.decode()
        assert answer.status_code == 422
        assert "Organization name already exists." in shown
        assert "It is the name of" not in shown
        assert self.lookups() == 1  # looked for, audited, not found

    def test_the_holders_name_is_escaped(self, as_editor, sandbox):
        hostile = StoredOrganization(str(uuid.uuid4()), "partner", "<img src=x onerror=alert(1)>")
        sandbox.sandbox.organizations[hostile.id] = hostile
        page = as_editor.get(CREATE).content.decode()
        answer = as_editor.post(CREATE, hidden_fields(page) | {"name": hostile.name})
        shown = answer.content.decode()
        assert answer.status_code == 422
        assert "<img src=x" not in shown
        assert f'<a href="/organizations/{hostile.id}/">&lt;img src=x onerror=alert(1)&gt;</a>' in shown

    def test_other_refusals_look_nothing_up(self, as_editor, sandbox):
        said = {"status": 422, "message": "validation failed", "metadata": {"name": "too long"}}
        sandbox.sandbox.faults.queue.append({"method": "POST", "answer": {"status": 422, "body": said}})
        page = as_editor.get(CREATE).content.decode()
        answer = as_editor.post(CREATE, hidden_fields(page) | {"name": "Hooli"})
        assert "Too long." in answer.content.decode()
        assert self.lookups() == 0
