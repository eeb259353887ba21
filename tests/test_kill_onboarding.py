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

import os
import re
import signal
import threading

import requests

from benchmarks.harness import StaffClient
from devtools.sandbox import OWNER_ID
from devtools.support import hidden_fields, wait_until_listening
from tests.test_kill import SECONDS, wait_for
from tests.test_kill import servers as servers_fixture

servers = servers_fixture  # the portal under gunicorn, one worker, and the sandbox
NEW = "/onboarding/new/"
UNKNOWN = "Outcome unknown"
NOT_SENT = "Not sent yet"


def polytomic(servers, path: str) -> list[dict]:
    """What the sandbox holds at `path`, read as the portal reads it."""
    key = servers.env["POLYTOMIC_PARTNER_API_KEY"]
    headers = {"Authorization": f"Bearer {key}", "X-Polytomic-Version": "2025-09-18"}
    answer = requests.get(f"{servers.sandbox_url}{path}", headers=headers, timeout=SECONDS)
    answer.raise_for_status()
    return answer.json()["data"]


def sent(servers, method: str, part: str) -> list[dict]:
    return [r for r in servers.sandbox_log()["requests"] if r["method"] == method and part in r["path"]]


def killed_while_held(servers, staff: StaffClient, path: str, data: dict, held: tuple[str, str]) -> None:
    """Posts `data` to `path` with the sandbox holding the write `held` (method, path); SIGKILLs
    the worker once the write is in flight, and waits for gunicorn's next worker."""
    servers.set_faults(queue=[{"method": held[0], "path": held[1], "fault": "hold"}])
    outcome: list[object] = []

    def submit() -> None:
        try:
            outcome.append(staff.send("POST", path, data).status_code)
        except requests.RequestException as exc:  # the worker died with the request
            outcome.append(type(exc).__name__)

    submitting = threading.Thread(target=submit)
    submitting.start()
    wait_for(lambda: sent(servers, *held), "the write reaching Polytomic")
    [worker] = servers.workers()
    os.kill(worker, signal.SIGKILL)
    submitting.join(timeout=SECONDS)
    assert outcome, "the submit ended"
    assert outcome[0] != 302, outcome  # no answer came back: the worker was killed
    wait_for(lambda: servers.workers() and servers.workers() != [worker], "gunicorn starting another worker")
    assert wait_until_listening(f"{servers.portal_url}/healthz", seconds=SECONDS)
    staff.sign_in()


def release(servers) -> None:
    requests.post(f"{servers.sandbox_url}/_sandbox/release", timeout=SECONDS).raise_for_status()


def start_flow(staff: StaffClient, name: str) -> tuple[str, dict]:
    """The flow's first form filled in; posting it starts the flow and creates the organization."""
    return NEW, {**hidden_fields(staff.send("GET", NEW).text), "name": name}


def flow_page(servers, staff: StaffClient) -> tuple[str, str]:
    """The one flow's address and its page as shown now."""
    listed = staff.send("GET", "/onboarding/").text
    [address] = set(re.findall(r'href="(/onboarding/\d+/)"', listed))
    return address, staff.send("GET", address).text


def test_an_organization_create_cut_by_a_killed_worker_is_unknown_locked_then_found_done(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    killed_while_held(servers, staff, *start_flow(staff, "Pied Piper"), held=("POST", "/api/organizations"))

    address, page = flow_page(servers, staff)
    assert UNKNOWN in page
    assert NOT_SENT not in page
    assert re.search(r'name="name"[^>]*disabled|disabled[^>]*name="name"', page)  # locked: sent as it was
    again = staff.send("POST", f"{address}organization/", {**hidden_fields(page), "name": "Pied Piper"})
    assert again.status_code < 500
    assert len(sent(servers, "POST", "/api/organizations")) == 1  # the second submit sent nothing

    release(servers)
    wait_for(lambda: any(o["name"] == "Pied Piper" for o in polytomic(servers, "/api/organizations")),
             "the held create carried out")  # fmt: skip
    [made] = [o for o in polytomic(servers, "/api/organizations") if o["name"] == "Pied Piper"]
    page = wait_for(lambda: (text := staff.send("GET", address).text) and UNKNOWN not in text and text,
                    "the page finding the create done")  # fmt: skip
    assert NOT_SENT not in page
    assert "Done" in page
    assert made["id"] in page  # the step done, with the organization Polytomic made
    assert len(sent(servers, "POST", "/api/organizations")) == 1


def test_a_share_cut_by_a_killed_worker_is_unknown_not_left_out_then_found_shared(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    path, data = start_flow(staff, "Hooli")
    assert staff.send("POST", path, data).status_code == 302  # no fault: the organization is made
    address, page = flow_page(servers, staff)
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
