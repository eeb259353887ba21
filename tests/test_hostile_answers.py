"""Answers Polytomic could send that must cost neither a page nor an audit entry: JSON nested
thousands of levels deep, objects of a hundred thousand keys, names holding NUL (which
PostgreSQL's text and jsonb refuse) or lone surrogates (which are not UTF-8). Run on both
databases."""

from __future__ import annotations

import io
import json

import pytest
import requests

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, StoredOrganization
from orgadmin.polytomic.recording import MASK_MAX_DEPTH, RESPONSE_BODY_MAX_CHARS, TOO_DEEP, mask_answer
from orgadmin.polytomic.transport import Answer, decoded
from tests.support import call_entries, verify_chain

DEEP = "[" * 5000 + "]" * 5000
NUL_ID = "7a1f0c2e-0000-4000-8000-0000000000a0"


def script(sandbox, method: str, path: str, status: int, *, text: str = "", body: object = None) -> None:
    answer = {"status": status, "text": text, "headers": {"Content-Type": "application/json"}}
    if body is not None:
        answer = {"status": status, "body": body}
    sandbox.sandbox.faults.queue.append({"method": method, "path": path, "answer": answer})


def read(text: str) -> Answer:
    """A JSON answer as the client hands it to the audit record: read once."""
    return Answer(status=200, headers={}, text=text, json=json.loads(text), is_json=True)


def entries(action: str) -> list[AuditEntry]:
    """The calls of `action` in the log, one entry each (a write's outcome)."""
    return call_entries(action=action)


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


class DeepAnswerTests:
    def test_a_create_answered_with_deep_json_is_recorded_and_said(self, as_admin, sandbox):
        script(sandbox, "POST", "/api/organizations", 200, text='{"data": ' + DEEP + "}")
        response = as_admin.post("/organizations/new/", {"name": "Deep Co", "form_key": "d" * 32})
        assert response.status_code == 200
        assert "Polytomic sent an answer the portal could not read" in response.content.decode()
        assert 'value="Deep Co"' in response.content.decode()
        [entry] = entries("organization.create")
        assert entry.outcome == "unknown"  # a success that cannot be read: it may have been done
        assert entry.response_body.startswith('{"data": [[[')
        assert len(entry.response_body) < RESPONSE_BODY_MAX_CHARS + 100
        page = as_admin.get(f"/audit/{entry.id}/")  # shown as stored, not parsed into a 500
        assert page.status_code == 200
        assert "[[[[" in page.content.decode()

    def test_a_read_answered_with_deep_json_is_recorded_and_said(self, as_admin, sandbox):
        script(sandbox, "GET", f"/api/organizations/{ACME_ID}", 200, text=DEEP)
        response = as_admin.get(f"/organizations/{ACME_ID}/")
        assert response.status_code == 200
        assert "Polytomic did not answer as expected" in response.content.decode()
        [entry] = entries("organization.get")
        assert entry.outcome == "failed"
        assert as_admin.get(f"/audit/{entry.id}/").status_code == 200

    def test_a_refusal_with_deep_metadata_is_recorded_and_said(self, as_admin, sandbox):
        text = '{"message": "invalid", "metadata": ' + DEEP + "}"
        script(sandbox, "POST", "/api/organizations", 422, text=text)
        response = as_admin.post("/organizations/new/", {"name": "Deep Co", "form_key": "d" * 32})
        assert response.status_code == 422
        assert [e.outcome for e in entries("organization.create")] == ["rejected"]

    def test_json_that_parses_is_masked_only_so_deep(self):
        nested: object = "leaf"
        for _ in range(200):
            nested = {"data": nested}
        stored = mask_answer(read(json.dumps(nested)), lambda text: text)
        depth = stored.count('{"data":')
        assert depth == MASK_MAX_DEPTH
        assert f'"{TOO_DEEP}"' in stored

    def test_a_wide_object_is_masked_only_as_far_as_it_is_kept(self):
        wide = {"data": {f"key{n}": "x" * 10 for n in range(100_000)}}
        stored = mask_answer(read(json.dumps(wide)), lambda text: text)
        assert len(stored) < RESPONSE_BODY_MAX_CHARS + 100
        assert stored.endswith("characters in all]")


class UnstorableTextTests:
    @pytest.fixture
    def nul_organization(self, sandbox) -> StoredOrganization:
        organization = StoredOrganization(NUL_ID, "partner", "Nul\x00 Co\x07", sso_domain="nul.example")
        with sandbox.sandbox.lock:
            sandbox.sandbox.organizations[NUL_ID] = organization
        return organization

    def test_an_organization_named_with_nul_is_viewed_audited_and_deleted(self, as_admin, sandbox, nul_organization):
        assert as_admin.get("/organizations/").status_code == 200
        assert as_admin.get(f"/organizations/{NUL_ID}/").status_code == 200
        [entry] = entries("organization.get")
        assert entry.organization_name == "Nul\\x00 Co\x07"
        assert "Nul\\u0000 Co" in AuditEntry.objects.get(action="organization.list").response_body

        page = as_admin.get(f"/organizations/{NUL_ID}/delete/").content.decode()
        assert "Enter <strong>Nul Co</strong> exactly." in page  # what can be typed
        confirm = {"confirm_name": "Nul Co"}
        response = as_admin.post(f"/organizations/{NUL_ID}/delete/", confirm, follow=True)
        assert "Deleted Nul" in response.content.decode()
        assert NUL_ID not in sandbox.sandbox.organizations
        assert [e.outcome for e in entries("organization.delete")] == ["ok"]
        assert verify_chain()[1] is None

    def test_a_name_of_nothing_typeable_is_confirmed_with_the_id(self, as_admin, sandbox, nul_organization):
        nul_organization.name = "\x00\x00"
        page = as_admin.get(f"/organizations/{NUL_ID}/delete/").content.decode()
        assert f"Enter <strong>{NUL_ID}</strong> exactly." in page
        confirm = {"confirm_name": NUL_ID}
        as_admin.post(f"/organizations/{NUL_ID}/delete/", confirm)
        assert NUL_ID not in sandbox.sandbox.organizations

    def test_lone_surrogates_and_nul_from_polytomic_are_stored(self, as_admin, sandbox):
        body = '{"data": {"id": "%s", "name": "Half \\ud800 a pair", "issuer": "x\\u0000y"}}' % ACME_ID  # noqa: UP031
        script(sandbox, "GET", f"/api/organizations/{ACME_ID}", 200, text=body)
        script(sandbox, "GET", f"/api/organizations/{ACME_ID}", 500, body={"message": "broken\x00message \ud800"})
        assert as_admin.get(f"/organizations/{ACME_ID}/").status_code == 200
        assert as_admin.get(f"/organizations/{ACME_ID}/").status_code == 200  # the 500, said plainly
        found, failed = sorted(entries("organization.get"), key=lambda e: e.id)
        assert found.organization_name == "Half \ufffd a pair"  # as the page showed it
        assert "Half \\ud800 a pair" in found.response_body  # as Polytomic sent it
        assert failed.outcome == "failed"
        assert "Broken\\x00message \ufffd." in failed.error_message
        assert verify_chain()[1] is None


class DecodingTests:
    """A body read in chunks is decoded as requests decodes a body it read itself."""

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ('{"name": "Zürich"}'.encode(), "application/json"),
            ("Zürich".encode("latin-1"), "text/plain; charset=ISO-8859-1"),
            ("Zürich, Ørsted, Łódź".encode(), "text/html"),  # no charset: requests says ISO-8859-1
            ("Zürich, Ørsted, Łódź".encode(), "application/octet-stream"),  # none at all: guessed
            (b"\xff\xfe\xfd not text", "application/json"),
            ("Zürich".encode(), "text/plain; charset=no-such-charset"),
            (b"", "application/json"),
        ],
    )
    def test_as_requests_decodes_it(self, body, content_type):
        response = requests.models.Response()
        response.raw, response.headers["Content-Type"] = io.BytesIO(body), content_type
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        assert decoded(body, response.encoding) == response.text
