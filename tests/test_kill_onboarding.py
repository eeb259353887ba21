"""A worker killed while onboarding's organization or share step is in flight: the task stands as
of unknown outcome, never "Not sent yet", locked (its form sends nothing again, a share is not
offered to leave out), and once Polytomic carries the held write out, the flow's page finds it
done, made once.

As in test_kill.py: the portal under gunicorn, one worker, against the sandbox on loopback, on a
throwaway database of the suite's kind; the sandbox holds the step's write until the worker that
sent it is killed with SIGKILL, and gunicorn's master starts another; then the sandbox is told to
let the held write go on.
"""

from __future__ import annotations

import re

import pytest
import requests

from benchmarks.harness import StaffClient
from devtools.sandbox import OWNER_ID
from devtools.support import hidden_fields
from tests.support import KILL_SECONDS, killed_while_held, one_worker_portal, wait_for

NEW = "/onboarding/new/"
UNKNOWN = "Outcome unknown"
NOT_SENT = "Not sent yet"


@pytest.fixture(scope="module")
def servers():
    """Shared by the module's tests: each onboards an organization of its own name, and counts
    only the writes made for it."""
    with one_worker_portal("kill_onboarding") as running:
        yield running


def polytomic(servers, path: str) -> list[dict]:
    """What the sandbox holds at `path`, read as the portal reads it."""
    key = servers.env["POLYTOMIC_PARTNER_API_KEY"]
    headers = {"Authorization": f"Bearer {key}", "X-Polytomic-Version": "2025-09-18"}
    answer = requests.get(f"{servers.sandbox_url}{path}", headers=headers, timeout=KILL_SECONDS)
    answer.raise_for_status()
    return answer.json()["data"]


def sent(servers, method: str, path: str, **body: object) -> list[dict]:
    """The requests the sandbox received with `method` and `path` whose body has these fields."""
    return [
        r for r in servers.sandbox_log()["requests"]
        if (r["method"], r["path"]) == (method, path)
        and all(isinstance(r["body"], dict) and r["body"].get(name) == value for name, value in body.items())
    ]  # fmt: skip


def release(servers) -> None:
    requests.post(f"{servers.sandbox_url}/_sandbox/release", timeout=KILL_SECONDS).raise_for_status()


def start_flow(staff: StaffClient, name: str) -> tuple[str, dict]:
    """The flow's first form filled in; posting it starts the flow and creates the organization."""
    return NEW, {**hidden_fields(staff.send("GET", NEW).text), "name": name}


def flow_page(staff: StaffClient, name: str) -> tuple[str, str]:
    """The address of the flow onboarding `name`, and its page as shown now."""
    listed = staff.send("GET", "/onboarding/").text
    [address] = set(re.findall(rf'href="(/onboarding/\d+/)">{re.escape(name)}</a>', listed))
    return address, staff.send("GET", address).text


def test_an_organization_create_cut_by_a_killed_worker_is_unknown_locked_then_found_done(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    killed_while_held(servers, staff, *start_flow(staff, "Pied Piper"), held=("POST", "/api/organizations"))

    address, page = flow_page(staff, "Pied Piper")
    assert UNKNOWN in page
    assert NOT_SENT not in page
    assert re.search(r'name="name"[^>]*disabled|disabled[^>]*name="name"', page)  # locked: sent as it was
    again = staff.send("POST", f"{address}organization/", {**hidden_fields(page), "name": "Pied Piper"})
    assert again.status_code < 500
    assert len(sent(servers, "POST", "/api/organizations", name="Pied Piper")) == 1  # the second submit sent nothing

    release(servers)
    wait_for(lambda: any(o["name"] == "Pied Piper" for o in polytomic(servers, "/api/organizations")),
             "the held create carried out")  # fmt: skip
    [made] = [o for o in polytomic(servers, "/api/organizations") if o["name"] == "Pied Piper"]
    page = wait_for(lambda: (text := staff.send("GET", address).text) and UNKNOWN not in text and text,
                    "the page finding the create done")  # fmt: skip
    assert NOT_SENT not in page
    assert "Done" in page
    assert made["id"] in page  # the step done, with the organization Polytomic made
    assert len(sent(servers, "POST", "/api/organizations", name="Pied Piper")) == 1


def test_a_share_cut_by_a_killed_worker_is_unknown_not_left_out_then_found_shared(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    path, data = start_flow(staff, "Hooli")
    assert staff.send("POST", path, data).status_code == 302  # no fault: the organization is made
    address, page = flow_page(staff, "Hooli")
    [made] = [o for o in polytomic(servers, "/api/organizations") if o["name"] == "Hooli"]
    [connection, *_] = re.findall(r'name="connections" value="([^"]+)"', page)
    share_path = f"/api/organizations/{OWNER_ID}/connections/{connection}/shared"
    killed_while_held(servers, staff, f"{address}connections/", {**hidden_fields(page), "connections": [connection]},
                      held=("POST", share_path))  # fmt: skip

    page = staff.send("GET", address).text
    assert UNKNOWN in page
    assert NOT_SENT not in page
    assert "Leave this out" not in page

    release(servers)
    shares = lambda: [s for s in polytomic(servers, share_path) if s.get("organization_id") == made["id"]]  # noqa: E731
    wait_for(shares, "the held share carried out")
    page = wait_for(lambda: (text := staff.send("GET", address).text) and UNKNOWN not in text and text,
                    "the page finding the share done")  # fmt: skip
    assert NOT_SENT not in page
    assert "Leave this out" not in page
    [copy] = shares()  # exactly one share
    assert f"shared as <code>{copy['id']}</code>" in page
    assert len(sent(servers, "POST", share_path)) == 1
