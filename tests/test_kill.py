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

import pytest

from benchmarks.harness import StaffClient
from devtools.sandbox import ACME_ID
from devtools.support import hidden_fields
from tests.support import killed_while_held, one_worker_portal

EDIT = f"/organizations/{ACME_ID}/edit/"


@pytest.fixture
def servers():
    with one_worker_portal("kill") as running:
        yield running


def test_a_write_cut_short_by_a_killed_worker_stands_as_unknown(servers):
    staff = StaffClient(servers.portal_url, "admin")
    assert staff.sign_in()
    form = hidden_fields(staff.send("GET", EDIT).text)
    data = {**form, "name": "Acme Killed Mid-Write", "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
    held = killed_while_held(servers, staff, EDIT, data, held=("PUT", f"/api/organizations/{ACME_ID}"))

    # The audit page, filtered to the writes with no outcome, shows the attempt; so does its page.
    key = held["headers"]["idempotency-key"]
    listed = staff.send("GET", "/audit/?outcome=unknown").text
    export = list(csv.DictReader(io.StringIO(staff.send("GET", "/audit/export.csv?reads=on").text)))
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
