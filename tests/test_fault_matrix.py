"""Every operation (the organizations', and their people's) against every way Polytomic can fail, from one table each.

For every cell: a clear page or form error (never a 500, never the raw upstream body), the
operator's input kept, exactly one audit entry for the operation with the right outcome, and a
POST, PUT or DELETE sent at most once.
"""

from __future__ import annotations

import io
import uuid

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEntry
from devtools.sandbox import PARTNER_KEY  # the key the portal sends in these tests
from devtools.support import hidden_field
from orgadmin.models import Onboarding
from tests.factories import make_user
from tests.support import only_call_entry

API = "https://polytomic.test"
ORG_ID = "5b0d7c3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"
OWNER_ID = "5b0d7c3e-1f2a-4b3c-8d4e-000000000001"
ORG = {"id": ORG_ID, "name": "Acme", "sso_domain": "acme.example", "sso_org_id": "org_1", "issuer": None}
RAW = "RAW-UPSTREAM-BODY"  # in bodies that must never reach a page

# behaviour: (how Polytomic answers, the audit outcome)
BEHAVIOURS = {
    "timeout": ({"body": requests.exceptions.ReadTimeout("read timed out")}, "failed"),
    "refused connection": ({"body": requests.exceptions.ConnectionError("Connection refused")}, "failed"),
    "dropped mid-response": ({"body": requests.exceptions.ChunkedEncodingError("Connection broken")}, "failed"),
    "500 with error body": ({"status": 500, "json": {"status": 500, "message": "internal failure"}}, "failed"),
    "502 html": (
        {"status": 502, "body": f"<html><h1>502 Bad Gateway</h1>{RAW}</html>", "content_type": "text/html"},
        "failed",
    ),
    "200 malformed json": ({"status": 200, "body": '{"data": [' + RAW, "content_type": "application/json"}, "failed"),
    "200 unexpected shape": ({"status": 200, "json": {"result": RAW}}, "failed"),
    "401 message": ({"status": 401, "json": {"status": 401, "message": "bad key"}}, "rejected"),
    "401 legacy": (
        {"status": 401, "json": {"code": 401, "context": {}, "error": "unauthorized", "status": "Unauthorized"}},
        "rejected",
    ),
    "401 nested": ({"status": 401, "json": {"error": {"message": "invalid or unknown API key"}}}, "rejected"),
    "403": ({"status": 403, "json": {"status": 403, "message": "not yours"}}, "rejected"),
    "404": ({"status": 404, "json": {"status": 404, "message": "no such organization"}}, "rejected"),
    "429 retry-after": ({"status": 429, "json": {"message": "slow down"}, "headers": {"Retry-After": "0"}}, "rejected"),
    "409 name taken": ({"status": 409, "json": {"status": 409, "message": "name already exists"}}, "rejected"),
    "409 in flight": ({"status": 409, "json": {"status": 409, "message": "request already in progress"}}, "rejected"),
    "422 metadata object": (
        {"status": 422, "json": {"message": "invalid", "metadata": {"issuer": "bad issuer"}}},
        "rejected",
    ),
    "422 metadata array": ({"status": 422, "json": {"message": "invalid", "metadata": ["issuer is bad"]}}, "rejected"),
    "422 no metadata": ({"status": 422, "json": {"status": 422, "message": "invalid input"}}, "rejected"),
    "401 echoing the key": (
        {"status": 401, "json": {"message": f"invalid credentials: Authorization: Bearer {PARTNER_KEY}"}},
        "rejected",
    ),
    "500 echoing the key": ({"status": 500, "json": {"error": f"request by {PARTNER_KEY} failed"}}, "failed"),
}
# A write whose answer was lost after it was sent, or whose success could not be read, may have been
# done: its outcome is unknown, never failed (orgadmin/outcomes.py finds out).
ANSWER_LOST = {"timeout", "dropped mid-response", "200 malformed json", "200 unexpected shape"}
MAY_HAVE_DONE_IT = "Polytomic may have done this; the portal is checking."
# A delete reads no body: any 2xx is success, whatever comes with it.
SUCCESS_FOR_DELETE = {"200 malformed json", "200 unexpected shape"}
DELETES = {"delete", "remove user"}
USER_ID = "5b0d7c3e-1f2a-4b3c-8d4e-5f6a7b8c9d11"
ROLE_ID = "5b0d7c3e-1f2a-4b3c-8d4e-5f6a7b8c9d21"
USER = {"id": USER_ID, "email": "analyst@acme.example", "organization_id": ORG_ID, "role_ids": [ROLE_ID]}
ROLE = {"id": ROLE_ID, "name": "Member", "organization_id": ORG_ID, "system": True}
PEOPLE = f"/organizations/{ORG_ID}/users"
CONNECTION_ID = "5b0d7c3e-1f2a-4b3c-8d4e-5f6a7b8c9d31"
CONNECTION = {"id": CONNECTION_ID, "name": "Warehouse", "organization_id": OWNER_ID, "type": {"name": "Snowflake"}}

EDIT_FORM = {"name": "Typed Name", "sso_domain": "acme.example", "sso_org_id": "org_1"}

# operation: (method, Polytomic path, the portal request that causes it, the typed input to find again)
OPERATIONS = {
    "list": ("GET", "/api/organizations", ("get", reverse("orgadmin:organization-list"), None), None),
    "get": ("GET", f"/api/organizations/{ORG_ID}", ("get", f"/organizations/{ORG_ID}/", None), None),
    "create": (
        "POST",
        "/api/organizations",
        ("post", "/organizations/new/", {"name": "Typed Name", "form_key": "k" * 32}),
        "Typed Name",
    ),
    "update": (
        "PUT",
        f"/api/organizations/{ORG_ID}",
        ("post", f"/organizations/{ORG_ID}/edit/", EDIT_FORM),
        "Typed Name",
    ),
    "delete": (
        "DELETE",
        f"/api/organizations/{ORG_ID}",
        ("post", f"/organizations/{ORG_ID}/delete/", {"confirm_name": "Acme"}),
        None,
    ),
    # A customer organization's people.
    "list users": ("GET", f"/api/organizations/{ORG_ID}/users", ("get", f"{PEOPLE}/", None), None),
    "list roles": ("GET", "/api/permissions/roles", ("get", f"{PEOPLE}/", None), None),
    "invite": (
        "POST",
        f"/api/organizations/{ORG_ID}/users",
        ("post", f"{PEOPLE}/invite/", {"email": "typed@acme.example", "role_ids": [ROLE_ID], "form_key": "k" * 32}),
        "typed@acme.example",
    ),
    "change roles": (
        "PUT",
        f"/api/organizations/{ORG_ID}/users/{USER_ID}",
        ("post", f"{PEOPLE}/{USER_ID}/roles/", {"role_ids": [ROLE_ID], "form_key": "k" * 32}),
        None,
    ),
    "remove user": (
        "DELETE",
        f"/api/organizations/{ORG_ID}/users/{USER_ID}",
        ("post", f"{PEOPLE}/{USER_ID}/remove/", {"confirm_email": "analyst@acme.example"}),
        None,
    ),
    "create key": (
        "POST",
        f"/api/organizations/{ORG_ID}/users/{USER_ID}/keys",
        ("post", f"{PEOPLE}/{USER_ID}/key/", {"form_key": "k" * 32}),
        None,
    ),
    # Onboarding (orgadmin/onboarding/flow.py): "{flow}" is a flow made for the cell, at the step it needs.
    "onboard: create": (
        "POST",
        "/api/organizations",
        ("post", "/onboarding/new/", {"name": "Typed Name", "form_key": "k" * 32}),
        "Typed Name",
    ),
    "onboard: list connections": ("GET", "/api/connections", ("get", "/onboarding/{flow}/", None), None),
    "onboard: share": (
        "POST",
        f"/api/organizations/{OWNER_ID}/connections/{CONNECTION_ID}/shared",
        ("post", "/onboarding/{flow}/connections/", {"connections": [CONNECTION_ID]}),
        None,
    ),
    "onboard: invite": (
        "POST",
        f"/api/organizations/{ORG_ID}/users",
        ("post", "/onboarding/{flow}/administrators/", {"emails": "typed@acme.example", "role_ids": [ROLE_ID]}),
        None,
    ),
    # An organization's Connections page: the shares of each of the partner's connections.
    "list shares": (
        "GET",
        f"/api/organizations/{OWNER_ID}/connections/{CONNECTION_ID}/shared",
        ("get", f"/organizations/{ORG_ID}/connections/", None),
        None,
    ),
    # Find anything by its id (orgadmin/lookup/): Polytomic's partner entity lookup.
    "find an id": ("GET", f"/api/organizations/entities/{USER_ID}", ("get", f"/find/?id={USER_ID}", None), USER_ID),
}
ACTIONS = {"list": "organization.list", "get": "organization.get", "create": "organization.create",
           "update": "organization.update", "delete": "organization.delete", "list users": "user.list",
           "list roles": "role.list", "invite": "user.invite", "change roles": "user.update",
           "remove user": "user.delete", "create key": "user.key", "onboard: create": "organization.create",
           "onboard: list connections": "connection.list", "onboard: share": "connection.share",
           "onboard: invite": "user.invite", "find an id": "entity.get",
           "list shares": "connection.shared"}  # fmt: skip


@pytest.fixture
def api(settings):
    settings.POLYTOMIC_API_URL = API
    # Not every answer is asked for: the reads around the faulted call are answered in case the
    # page makes them, and which it makes depends on how the call failed.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("ada", role="Admin"))
    return client


def onboarding_at(*, step: str) -> int:
    """A flow whose organization (ORG) is created, at its connections or administrators step."""
    flow = Onboarding.objects.create(
        correlation_id=uuid.uuid4(), key="k" * 32, started_by=make_user("ed", role="Editor"), organization_id=ORG_ID,
        organization_name="Acme", organization_input={"name": "Acme"}, connections_chosen=step == "administrators",
    )  # fmt: skip
    flow.tasks.create(step="organization", label="Acme", state="done", polytomic_id=ORG_ID)
    return flow.pk


def opened_edit_form(client) -> dict[str, str]:
    page = client.get(f"/organizations/{ORG_ID}/edit/").content.decode()
    return {name: hidden_field(page, name) for name in ("form_key", "opened")}


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_fault_matrix(admin_client, api, operation, behaviour):
    method, path, (verb, url, data), typed = OPERATIONS[operation]
    answer, outcome = BEHAVIOURS[behaviour]
    # What the portal reads around the faulted call answers normally.
    if operation != "list":
        api.add("GET", f"{API}/api/organizations", json={"data": [{"id": OWNER_ID, "name": "Owner"}, ORG]})
    if operation in ("update", "delete", "list shares") or path.startswith(
        (f"/api/organizations/{ORG_ID}/", "/api/permissions")
    ):
        api.add("GET", f"{API}/api/organizations/{ORG_ID}", json={"data": ORG})
    if path != f"/api/organizations/{ORG_ID}/users" or method != "GET":
        api.add("GET", f"{API}/api/organizations/{ORG_ID}/users", json={"data": [USER]})
    if path != "/api/permissions/roles":
        api.add("GET", f"{API}/api/permissions/roles", json={"data": [ROLE]})
    if operation == "update":
        data = data | opened_edit_form(admin_client)
    if operation == "create key":  # the form's single-use token, handed out with the form
        data = data | {"once": hidden_field(admin_client.get(url).content.decode(), "once")}
    if path != "/api/connections":
        api.add("GET", f"{API}/api/connections", json={"data": [CONNECTION]})
    if operation == "onboard: create":  # the new flow's signed correlation id, handed out with the form
        data = data | {"flow": hidden_field(admin_client.get(url).content.decode(), "flow")}
    if "{flow}" in url:
        url = url.format(flow=onboarding_at(step="administrators" if "invite" in operation else "connections"))
    api.add(method, f"{API}{path}", **answer)
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0  # only this call's count

    response = getattr(admin_client, verb)(url, data) if data else admin_client.get(url)
    page = response.content.decode()

    assert response.status_code != 500
    assert RAW not in page
    assert PARTNER_KEY not in page
    assert "Traceback" not in page
    entry = only_call_entry(id__gt=before, action=ACTIONS[operation])  # a write's outcome, after its attempt
    expected_outcome = "ok" if operation in DELETES and behaviour in SUCCESS_FOR_DELETE else outcome
    if method != "GET" and behaviour in ANSWER_LOST and expected_outcome != "ok":
        expected_outcome = "unknown"
    assert entry.outcome == expected_outcome
    if method != "GET":
        assert len([call for call in api.calls if call.request.method == method]) == 1
    if response.status_code == 302:  # a clear message on the page it leads to
        assert response["Location"].startswith(("/organizations/", "/onboarding/"))
        if response["Location"].startswith("/onboarding/") and outcome != "ok":
            followed = admin_client.get(response["Location"]).content.decode()
            assert "stopped" in followed, followed[:2000]
            assert MAY_HAVE_DONE_IT in followed if expected_outcome == "unknown" else True
            assert RAW not in followed
            assert PARTNER_KEY not in followed
    else:
        # The status policy: Polytomic's refusal of the input is input to correct; any other
        # failure of Polytomic's is a page that says so, not a 5xx of the portal's.
        refused_input = method != "GET" and behaviour.startswith(("409", "422"))
        assert response.status_code == (422 if refused_input else 200), response.status_code
        if operation == "find an id" and behaviour == "404":  # not a failure: Polytomic knows no such id
            assert "Nothing has this id" in page
        else:
            assert 'role="alert"' in page or "errorlist" in page, page[:2000]
        # Said of a write that may have been done (Polytomic's "in flight" too), and of no other.
        assert (MAY_HAVE_DONE_IT in page) == (expected_outcome == "unknown" or (behaviour == "409 in flight"
                                              and operation.startswith("onboard") and method != "GET"))  # fmt: skip
        if typed:
            assert f'value="{typed}"' in page or f">\n{typed}</textarea>" in page


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_the_external_change_command_says_plainly_what_stopped_it(db, api, behaviour):
    """`notice_external_changes` (cron) against every way the list can fail: a plain error that
    names no key and quotes no raw answer, the read recorded, nothing compared."""
    answer, outcome = BEHAVIOURS[behaviour]
    api.add("GET", f"{API}/api/organizations", **answer)
    with pytest.raises(CommandError) as stopped:
        call_command("notice_external_changes", stdout=io.StringIO())
    said = str(stopped.value)
    assert said.startswith("Nothing compared: ")
    assert RAW not in said
    assert PARTNER_KEY not in said
    assert only_call_entry(action="organization.list").outcome == outcome
    assert not AuditEntry.objects.filter(action="organization.external_change").exists()
