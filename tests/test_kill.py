"""A worker killed while a write is in flight: the write's attempt is in the log, with its outcome
unknown, on the audit page, on the entry's page, in the export and to `verify_audit`.

The portal runs under gunicorn from its production configuration, against the sandbox on
loopback, on a throwaway database of the suite's kind; the sandbox holds the update's request
until the worker that sent it is killed with SIGKILL, and gunicorn's master starts another.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
import time

import pytest
import requests
from django.db import connection

from benchmarks.harness import PortalServers, StaffClient, fresh_database, throwaway_workdir
from devtools.sandbox import ACME_ID
from devtools.support import hidden_fields, wait_until_listening

EDIT = f"/organizations/{ACME_ID}/edit/"
SECONDS = 30  # the bound of every wait below


def wait_for(condition, what: str):
    """Polls `condition` until it holds (its value), for at most SECONDS."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {SECONDS} s")


@pytest.fixture
def servers(db):
    backend = "postgres" if connection.vendor == "postgresql" else "sqlite"
    with throwaway_workdir("portal-kill-") as workdir:
        database = fresh_database(backend, workdir, name="portal_kill_test")
        with PortalServers(database_url=database, workdir=workdir, accounts={"admin": "Admin"}, workers=1,
                           threads=2) as running:  # fmt: skip
            yield running


def test_a_write_cut_short_by_a_killed_worker_stands_as_unknown(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    form = hidden_fields(staff.send("GET", EDIT).text)
    data = {**form, "name": "Acme Killed Mid-Write", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
    servers.set_faults(queue=[{"method": "PUT", "path": f"/api/organizations/{ACME_ID}", "fault": "hold"}])

    outcome: list[object] = []

    def submit() -> None:
        try:
            outcome.append(staff.send("POST", EDIT, data).status_code)
        except requests.RequestException as exc:  # the worker died with the request
            outcome.append(type(exc).__name__)

    submitting = threading.Thread(target=submit)
    submitting.start()
    held = wait_for(
        lambda: [r for r in servers.sandbox_log()["requests"] if r["method"] == "PUT"], "the update reaching Polytomic"
    )
    [worker] = servers.workers()
    os.kill(worker, signal.SIGKILL)
    submitting.join(timeout=SECONDS)
    assert outcome, "the submit ended"
    assert outcome[0] != 302, outcome  # no answer came back: the worker was killed
    wait_for(lambda: servers.workers() and servers.workers() != [worker], "gunicorn starting another worker")
    assert wait_until_listening(f"{servers.portal_url}/healthz", seconds=SECONDS)

    # The audit page, filtered to the writes with no outcome, shows the attempt; so does its page.
    key = held[0]["headers"]["idempotency-key"]
    staff.sign_in()  # the session survives, but sign in again as an operator would
    listed = staff.send("GET", "/audit/?outcome=unknown").text
    export = list(csv.DictReader(io.StringIO(staff.send("GET", "/audit/export.csv").text)))
    [row] = [row for row in export if row["idempotency_key"] == key]
    assert (row["phase"], row["outcome"], row["action"], row["attempt_id"]) == (
        "attempt", "unknown", "organization.update", ""
    )  # fmt: skip
    assert f'href="/audit/{row["id"]}/"' in listed
    entry_page = staff.send("GET", f"/audit/{row['id']}/").text
    assert "Outcome unknown: no outcome is recorded for this write." in entry_page
    assert "Acme Killed Mid-Write" in entry_page  # what was sent, as recorded before it was

    # Standard output is the audit stream alone: it had the attempt before the worker died, and
    # every other entry, once each.
    streamed = [json.loads(line) for line in servers.stream_path.read_text().splitlines()]
    assert sorted(line["id"] for line in streamed) == sorted(int(r["id"]) for r in export)
    assert [line["phase"] for line in streamed if line["idempotency_key"] == key] == ["attempt"]

    # verify_audit: the chain is intact, and the attempt is listed for someone to check by hand.
    printed = servers.manage("verify_audit", env={"POLYTOMIC_TOTAL_TIMEOUT": "0.001"})
    assert "chain intact" in printed
    assert "Writes with outcome unknown (older than 0.001 s): 1." in printed
    assert f"  entry {row['id']} " in printed
    assert f"idempotency key {key}" in printed
