"""Load the portal under gunicorn against a slow, failing sandbox, and check that it holds.

    python benchmarks/load.py                                   # 8 sessions for 20 s
    python benchmarks/load.py --sessions 16 --duration 600      # longer
    python benchmarks/load.py --backend postgres --kill-worker   # PostgreSQL; one worker killed halfway

Everything runs on loopback and is stopped at the end: the sandbox (`manage.py sandbox`, with 50 ms
added latency and a 5% mix of 500s, 503s, dropped connections and garbage answers), gunicorn from
`deploy/gunicorn.conf.py` (3 workers x 4 threads) on a throwaway database, and N signed-in sessions
doing what staff do (list, search, view, create, edit, delete) until the time is up.

With `--kill-worker`, halfway through the script kills one gunicorn worker with SIGKILL, once,
as a crash would; the master starts another.

It prints requests, errors by kind and latency percentiles, and exits non-zero unless the portal
answered no 5xx (a page saying that Polytomic failed is a 200, as the status policy has it, and
is counted apart; the requests the killed worker was serving get no answer at all, and are
counted apart too), every request the sandbox received is covered by an audit entry (a read's, or
a write's attempt, matched by the portal's request id), the HTTP attempts the entries count add up
to the requests received, every write's attempt has its outcome or is listed by `verify_audit` as
unknown, and `verify_audit` finds the chain intact.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import PortalServers, StaffClient, fresh_database, throwaway_workdir
from devtools.support import hidden_fields

SEED_IDS = ["7a1f0c2e-0000-4000-8000-000000000002", "7a1f0c2e-0000-4000-8000-000000000004"]


FAILURE_SHOWN = "200 with a failure shown"


class Staff(StaffClient):
    """One member of staff doing what staff do, recording each answer's kind, status and time."""

    def __init__(self, base: str, username: str, results: list, stop: threading.Event) -> None:
        super().__init__(base, username)
        self.results = results
        self.stop = stop
        self.rng = random.Random(username)  # noqa: S311 (load mix, not secrets)
        self.created: list[str] = []
        self.signed_in = False

    def request(self, method: str, path: str, data: dict | None = None, kind: str = "") -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.send(method, path, data)
        except requests.RequestException as exc:
            self.results.append((kind or path, "transport:" + type(exc).__name__, time.perf_counter() - started))
            return None
        status: object = response.status_code
        if status == 200 and 'role="alert"' in response.text:
            status = FAILURE_SHOWN  # Polytomic's failure (or the log's), said plainly on the page
        self.results.append((kind or path, status, time.perf_counter() - started))
        return response

    def run(self) -> None:
        try:
            self.signed_in = self.sign_in()
        except requests.RequestException:
            self.signed_in = False
        if not self.signed_in:
            return
        actions = [self.list] * 30 + [self.search] * 15 + [self.view] * 25 + [self.create] * 10 + [self.edit] * 15
        if self.username.startswith("admin"):
            actions += [self.delete] * 5
        while not self.stop.is_set():
            self.rng.choice(actions)()

    def list(self) -> None:
        self.request("GET", "/organizations/", kind="list")

    def search(self) -> None:
        self.request("GET", "/organizations/?q=" + self.rng.choice(["acme", "load", "glob", "x"]), kind="search")

    def view(self) -> None:
        self.request("GET", f"/organizations/{self.rng.choice(self.created or SEED_IDS)}/", kind="view")

    def create(self) -> None:
        page = self.request("GET", "/organizations/new/", kind="create")
        key = hidden_fields(page.text).get("form_key") if page is not None else None
        if not key:
            return
        name = f"Load {self.username} {self.rng.randrange(10**9)}"
        answer = self.request("POST", "/organizations/new/", {"name": name, "form_key": key}, kind="create")
        if answer is not None and answer.status_code == 302:
            self.created.append(answer.headers["Location"].strip("/").split("/")[-1])

    def edit(self) -> None:
        if not self.created:
            return self.create()
        organization_id = self.rng.choice(self.created)
        page = self.request("GET", f"/organizations/{organization_id}/edit/", kind="edit")
        fields = hidden_fields(page.text) if page is not None else {}
        if not {"form_key", "opened"} <= fields.keys():
            return None
        name = f"Load {self.username} edited {self.rng.randrange(10**9)}"
        self.request("POST", f"/organizations/{organization_id}/edit/", {"name": name, **fields}, kind="edit")
        return None

    def delete(self) -> None:
        if not self.created:
            return
        organization_id = self.created.pop()
        page = self.request("GET", f"/organizations/{organization_id}/delete/", kind="delete")
        name = page is not None and re.search(r"Enter <strong>(.+?)</strong> exactly\.", page.text)
        if name:
            data = {"confirm_name": html.unescape(name.group(1)), **hidden_fields(page.text)}
            self.request("POST", f"/organizations/{organization_id}/delete/", data, kind="delete")


def kill_a_worker_mid_write(servers: PortalServers, args: argparse.Namespace) -> int:
    """SIGKILLs the worker that has an edit in flight: the sandbox holds the next PUT, and the
    worker is the one connected from the port the sandbox saw it come from. Waits (up to 10 s)
    for an edit; without one, kills the first worker."""
    before = len(servers.sandbox_log()["requests"])
    servers.set_faults(latency_ms=args.latency_ms, rate=args.fault_rate, queue=[{"method": "PUT", "fault": "hold"}])
    deadline, worker = time.monotonic() + 10, None
    while worker is None and time.monotonic() < deadline:
        # The first PUT the sandbox received after the rule was queued is the one it holds.
        held = [r for r in servers.sandbox_log()["requests"][before:] if r["method"] == "PUT"][:1]
        if held:
            worker = servers.worker_connected_from(held[0]["peer_port"])
        else:
            time.sleep(0.05)
    killed = worker or servers.workers()[0]
    os.kill(killed, signal.SIGKILL)
    return killed


@dataclass
class AuditCheck:
    summary: str
    failures: list[str]


def check_audit(received: list[dict], entries: list[list], verified: str, *, cut_short: int) -> AuditCheck:
    """What the audit log says of the requests the sandbox received: each covered by an entry of
    the portal request that sent it (a read's entry, a write's attempt), the HTTP attempts of the
    finished calls adding up to the requests of theirs, every unresolved attempt listed.

    A read is recorded once it is answered (one write each), so a read the killed worker had in
    flight has no entry: it showed no one anything. Those are counted apart, up to the requests
    the kill cut short; a write without its attempt is a failure whatever happened."""
    failures = []
    outcomes = {attempt_id for _, phase, *_, attempt_id in entries if phase == "outcome"}
    covering = {(method, path, request_id): entry_id for entry_id, phase, method, path, request_id, *_ in
                entries if phase in ("call", "attempt")}  # fmt: skip
    unresolved = {entry_id for entry_id, phase, *_ in entries if phase == "attempt" and entry_id not in outcomes}
    writes_uncovered, reads_uncovered, of_unresolved = 0, set(), 0
    for request in received:
        key = (request["method"], request["path"], request["headers"].get("x-request-id", ""))
        if key not in covering and request["method"] == "GET":
            reads_uncovered.add(key)
        elif key not in covering:
            writes_uncovered += 1
        elif covering[key] in unresolved:
            of_unresolved += 1
    unrecorded_reads = sum(1 for r in received if (r["method"], r["path"], r["headers"].get("x-request-id", "")) in
                           reads_uncovered)  # fmt: skip
    counted = sum(attempts for _, phase, *_, attempts, _ in entries if phase != "attempt")
    listed = {int(n) for n in re.findall(r"^  entry ([0-9]+) ", verified, re.MULTILINE)}
    if writes_uncovered:
        failures.append(f"{writes_uncovered} writes the sandbox received have no attempt in the audit log")
    if len(reads_uncovered) > cut_short:
        failures.append(f"{len(reads_uncovered)} reads have no entry, more than the {cut_short} requests cut short")
    expected = len(received) - of_unresolved - unrecorded_reads
    if counted != expected:
        failures.append(f"the entries count {counted} HTTP attempts for {expected} requests")
    if unresolved - listed:
        failures.append(f"attempts with no outcome that verify_audit does not list: {sorted(unresolved - listed)}")
    summary = (f"{writes_uncovered} writes without their attempt; {len(reads_uncovered)} reads in flight at the "
               f"kill, unrecorded; {counted} HTTP attempts counted by the entries; {len(unresolved)} writes with "
               f"outcome unknown ({of_unresolved} requests), {len(unresolved & listed)} of them listed by "
               "verify_audit")  # fmt: skip
    return AuditCheck(summary, failures)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20, help="Seconds of load.")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--database-url", default="", help="A throwaway database (default: a fresh one of --backend).")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                        help="Without --database-url: a temporary SQLite file, or the database portal_load on "
                        "127.0.0.1:5432, dropped and made again.")  # fmt: skip
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL one gunicorn worker halfway, once.")
    args = parser.parse_args()

    usernames = ["admin-0"] + [f"editor-{n}" for n in range(1, args.sessions)]
    with throwaway_workdir("portal-load-") as workdir:
        servers = PortalServers(
            database_url=args.database_url or fresh_database(args.backend, workdir, name="portal_load"),
            workdir=workdir,
            accounts={name: "Admin" if name.startswith("admin") else "Editor" for name in usernames},
            workers=args.workers,
            threads=args.threads,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
        )
        with servers:
            results: list[tuple[str, object, float]] = []
            stop = threading.Event()
            staff = [Staff(servers.portal_url, name, results, stop) for name in usernames]
            threads = [threading.Thread(target=member.run) for member in staff]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            killed = None
            if args.kill_worker:
                time.sleep(args.duration / 2)
                killed = kill_a_worker_mid_write(servers, args)
                time.sleep(args.duration / 2)
            else:
                time.sleep(args.duration)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            elapsed = time.monotonic() - started
            received = servers.sandbox_log()["requests"]
        entries = json.loads(servers.manage("shell", "-c", (
            "import json\nfrom audit.models import AuditEntry\n"
            "print(json.dumps(list(AuditEntry.objects.exclude(action__startswith='audit.').values_list("
            "'id', 'phase', 'method', 'path', 'request_id', 'attempts', 'attempt_id'))))"
        )).splitlines()[-1])  # fmt: skip
        # Every unresolved attempt listed: the timeout is all but none, for the listing's cut-off.
        verified = servers.manage("verify_audit", check=False, env={"POLYTOMIC_TOTAL_TIMEOUT": "0.001"})

    statuses = Counter(status for _, status, _ in results)
    cut_short = sum(1 for _, status, _ in results if str(status).startswith("transport:"))
    audit = check_audit(received, entries, verified, cut_short=cut_short)
    errors = {str(k): v for k, v in statuses.items() if k not in (200, 302)}
    latencies = [seconds for _, status, seconds in results]
    by_action = Counter(kind for kind, _, _ in results)
    print(f"\nLoad: {args.sessions} sessions for {elapsed:.0f} s, gunicorn {args.workers}x{args.threads}, "
          f"sandbox +{args.latency_ms:g} ms, {args.fault_rate:.0%} faults")  # fmt: skip
    print(
        f"  portal requests     {len(results)} ({len(results) / elapsed:.1f}/s): "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items()))
    )
    print("  answers             " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    print(f"  errors by kind      {errors or 'none'}")
    print(f"  latency ms          p50 {percentile(latencies, 0.5):.0f}, p90 {percentile(latencies, 0.9):.0f}, "
          f"p99 {percentile(latencies, 0.99):.0f}, max {max(latencies, default=0) * 1000:.0f}")  # fmt: skip
    print(f"  worker killed       {f'pid {killed}, halfway' if killed else 'none'}; "
          f"{cut_short} requests cut short by it")  # fmt: skip
    print(f"  Polytomic requests  {len(received)} received by the sandbox; {audit.summary}")
    print("  audit chain         " + "\n                      ".join(
        line for line in verified.splitlines() if not line.startswith("{")  # (the checkpoint's stream line)
    ))  # fmt: skip
    failures = list(audit.failures)
    if any(isinstance(k, int) and k >= 500 for k in statuses):
        failures.append("the portal answered 5xx")
    # The killed worker took with it what it was serving and the sessions' kept-alive connections
    # to it: at most one request of each session gets no answer.
    if cut_short > (args.sessions if killed else 0):
        failures.append(f"{cut_short} requests got no answer (more than one a session at the kill)")
    if "chain intact" not in verified:
        failures.append("verify_audit failed")
    if not all(member.signed_in for member in staff):
        failures.append("not every session could sign in")
    if not received:
        failures.append("no call reached the sandbox")
    if not results or statistics.mean(1 if s in (200, 302) else 0 for _, s, _ in results) < 0.7:
        failures.append("fewer than 70% of the portal's answers were plain pages or redirects")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))
    print("PASSED: no 5xx, every call audited, every write's outcome recorded or reported unknown, chain intact")


if __name__ == "__main__":
    main()
