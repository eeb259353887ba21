"""Load the portal under gunicorn against a slow, failing sandbox, and check that it holds.

    python benchmarks/load.py                                   # 8 sessions for 20 s
    python benchmarks/load.py --sessions 16 --duration 600      # longer
    python benchmarks/load.py --backend postgres --kill-worker   # PostgreSQL; one worker killed halfway
    python benchmarks/load.py --instances 2 --backend postgres --kill-worker  # two portals, a worker of each killed

Everything runs on loopback and is stopped at the end: the sandbox (`manage.py sandbox`, with 50 ms
added latency and a 5% mix of 500s, 503s, dropped connections and garbage answers), gunicorn from
`deploy/gunicorn.conf.py` (3 workers x 4 threads) on a throwaway database, and N signed-in sessions
doing what staff do (list, search, view, create, edit, delete) until the time is up. With
`--instances 2`, two portals (gunicorn masters, each on a port of its own) share the database, and
each session sends its requests to them in turn: a form opened on one is posted to the other.

With `--kill-worker`, halfway through the script kills a gunicorn worker of each portal with
SIGKILL, as a crash would, each while it has an edit in flight; the masters start others.

Each session edits only the organizations it created, so what Polytomic holds at the end can be
checked against what the session was told: an edit is lost when the last one answered "Saved" is
not what Polytomic holds, and no edit sent after it, nor one whose answer never came, explains it.

It prints requests, errors by kind and latency percentiles, and exits non-zero unless the portal
answered no 5xx (a page saying that Polytomic failed is a 200, as the status policy has it, and
is counted apart; the requests the killed workers were serving get no answer at all, and are
counted apart too), every request the sandbox received is covered by an audit entry (a read's, or
a write's attempt, matched by the portal's request id), the HTTP attempts the entries count add up
to the requests received, every write's attempt has its outcome or is listed by `verify_audit` as
unknown, `verify_audit` finds the chain intact, and no edit is lost.
"""

from __future__ import annotations

import argparse
import contextlib
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
from benchmarks.harness import PortalServers, StaffClient, throwaway_database, throwaway_workdir
from devtools.sandbox import PARTNER_KEY
from devtools.support import hidden_fields

SEED_IDS = ["7a1f0c2e-0000-4000-8000-000000000002", "7a1f0c2e-0000-4000-8000-000000000004"]


FAILURE_SHOWN = "200 with a failure shown"
# What a session was told of a name it sent: saved (a redirect), not saved (a page), or nothing.
SAVED, NOT_SAVED, NO_ANSWER = "saved", "not saved", "no answer"


class Staff(StaffClient):
    """One member of staff doing what staff do, recording each answer's kind, status and time, and
    the names it sent to each organization it created, in order, with what it was told of each."""

    def __init__(self, bases: list[str], username: str, results: list, stop: threading.Event) -> None:
        super().__init__(bases[0], username)
        self.bases = bases
        self.sent = 0
        self.results = results
        self.stop = stop
        self.rng = random.Random(username)  # noqa: S311 (load mix, not secrets)
        self.created: list[str] = []
        self.names: dict[str, list[tuple[str, str]]] = {}  # organization id: [(name, what was told)]
        self.signed_in = False

    def request(self, method: str, path: str, data: dict | None = None, kind: str = "") -> requests.Response | None:
        # The portals in turn (a form opened on one is posted to the next): the cookie holds for all.
        self.base = self.bases[self.sent % len(self.bases)]
        self.sent += 1
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
        location = answer.headers.get("Location", "") if answer is not None else ""
        created = re.fullmatch(r"/organizations/([0-9a-f-]{36})/", location)  # not the sign-in page
        if created:
            organization_id = created.group(1)
            self.created.append(organization_id)
            self.names[organization_id] = [(name, SAVED)]

    def edit(self) -> None:
        if not self.created:
            return self.create()
        organization_id = self.rng.choice(self.created)
        page = self.request("GET", f"/organizations/{organization_id}/edit/", kind="edit")
        fields = hidden_fields(page.text) if page is not None else {}
        if not {"form_key", "opened"} <= fields.keys():
            return None
        name = f"Load {self.username} edited {self.rng.randrange(10**9)}"
        answer = self.request("POST", f"/organizations/{organization_id}/edit/", {"name": name, **fields}, kind="edit")
        saved = answer is not None and answer.headers.get("Location") == f"/organizations/{organization_id}/"
        told = NO_ANSWER if answer is None else SAVED if saved else NOT_SAVED
        self.names[organization_id].append((name, told))
        return None

    def delete(self) -> None:
        if not self.created:
            return
        organization_id = self.created.pop()
        self.names.pop(organization_id)  # whatever the delete's answer, its name is no longer checked
        page = self.request("GET", f"/organizations/{organization_id}/delete/", kind="delete")
        name = page is not None and re.search(r"Enter <strong>(.+?)</strong> exactly\.", page.text)
        if name:
            data = {"confirm_name": html.unescape(name.group(1)), **hidden_fields(page.text)}
            self.request("POST", f"/organizations/{organization_id}/delete/", data, kind="delete")


def kill_workers_mid_write(servers: PortalServers, args: argparse.Namespace) -> list[tuple[int, int]]:
    """SIGKILLs workers that have an edit in flight until each portal has lost one, in at most
    twice as many kills as portals: (portal, worker) of each. A held edit may come from a portal
    that has lost one already; its worker is killed all the same, as a held edit left alone
    would keep its session waiting until the portal gives up on it."""
    killed: list[tuple[int, int]] = []
    while {instance for instance, _ in killed} != set(range(args.instances)) and len(killed) < 2 * args.instances:
        spared = sorted(set(range(args.instances)) - {instance for instance, _ in killed})
        killed.append(kill_a_worker_mid_write(servers, args, portal=spared[0]))
    return killed


def kill_a_worker_mid_write(servers: PortalServers, args: argparse.Namespace, portal: int) -> tuple[int, int]:
    """SIGKILLs the worker that has an edit in flight: the sandbox holds the next PUT, and the
    worker is the one connected from the port the sandbox saw it come from. Waits (up to 10 s)
    for an edit; without one, kills the first worker of `portal`."""
    before = len(servers.sandbox_log()["requests"])
    servers.set_faults(latency_ms=args.latency_ms, rate=args.fault_rate, queue=[{"method": "PUT", "fault": "hold"}])
    deadline, found = time.monotonic() + 10, None
    while found is None and time.monotonic() < deadline:
        # The first PUT the sandbox received after the rule was queued is the one it holds.
        held = [r for r in servers.sandbox_log()["requests"][before:] if r["method"] == "PUT"][:1]
        if held:
            port = held[0]["peer_port"]
            found = next(((instance, worker) for instance in range(args.instances)
                          if (worker := servers.worker_connected_from(port, instance))), None)  # fmt: skip
        else:
            time.sleep(0.05)
    if found is None:  # no edit came: the rule goes, so that no later one is held and left to land late
        servers.set_faults(latency_ms=args.latency_ms, rate=args.fault_rate)
    instance, worker = found or (portal, servers.workers(portal)[0])
    os.kill(worker, signal.SIGKILL)
    return instance, worker


def lost_edits(sent: dict[str, list[tuple[str, str]]], held: dict[str, str]) -> tuple[list[str], int]:
    """The organizations whose last name answered "Saved" is not the name Polytomic holds (`held`,
    by id), when no name sent after it, nor one whose answer never came (a held write may land
    late), explains what it holds; and how many saves were checked."""
    lost, saves = [], 0
    for organization_id, names in sent.items():
        told = [what for _, what in names]
        saves += told.count(SAVED)
        last_saved = len(told) - 1 - told[::-1].index(SAVED)
        explained = {name for name, _ in names[last_saved:]} | {name for name, what in names if what == NO_ANSWER}
        if held.get(organization_id) not in explained:
            lost.append(organization_id)
    return lost, saves


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
    # An attempt a read has since settled (a `write.resolve` entry naming it) is no longer listed.
    settled = {attempt_id for _, phase, *_, attempt_id in entries if phase == "call" and attempt_id is not None}
    if unlisted := sorted(unresolved - listed - settled):
        failures.append(f"attempts with no outcome, unsettled, that verify_audit does not list: {unlisted}")
    summary = (f"{writes_uncovered} writes without their attempt; {len(reads_uncovered)} reads in flight at the "
               f"kill, unrecorded; {counted} HTTP attempts counted by the entries; {len(unresolved)} writes with "
               f"outcome unknown ({of_unresolved} requests), {len(unresolved & listed)} of them listed by "
               "verify_audit")  # fmt: skip
    return AuditCheck(summary, failures)


def write_verdicts(received: list[dict], entries: list[list]) -> tuple[int, int, int]:
    """What the audit log says came of the writes: how many the sandbox made (its API answered a
    2xx, whatever a fault did to the answer) the log calls failed or rejected (its resolution's
    word, else its outcome's), and how many attempts of unknown outcome (no outcome, or `unknown`)
    a resolution settled, and how many it did not."""
    attempts = {(method, path, request_id): entry_id for entry_id, phase, _, _, _, method, path, request_id in entries
                if phase == "attempt"}  # fmt: skip
    outcome = {attempt_id: said for _, phase, _, said, attempt_id, *_ in entries if phase == "outcome"}
    resolution = {attempt_id: said for _, _, action, said, attempt_id, *_ in entries if action == "write.resolve"}
    verdict = {attempt_id: resolution.get(attempt_id, outcome.get(attempt_id, "unknown")) for attempt_id in
               attempts.values()}  # fmt: skip
    made = [attempts.get((r["method"], r["path"], r["headers"].get("x-request-id", ""))) for r in received
            if r["method"] != "GET" and r.get("answer", {}).get("acted")]  # fmt: skip
    called_failed = sum(1 for attempt_id in made if verdict.get(attempt_id) in ("failed", "rejected"))
    unknown = [attempt_id for attempt_id in attempts.values() if outcome.get(attempt_id, "unknown") == "unknown"]
    settled = sum(1 for attempt_id in unknown if attempt_id in resolution)
    return called_failed, settled, len(unknown) - settled


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--instances", type=int, default=1, help="Portals (gunicorn masters) on the one database.")
    parser.add_argument("--duration", type=float, default=20, help="Seconds of load.")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--database-url", default="", help="A throwaway database (default: a fresh one of --backend).")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite",
                        help="Without --database-url: a temporary SQLite file, or a database portal_load_<pid> on "
                        "127.0.0.1:5432, dropped at the end.")  # fmt: skip
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL a gunicorn worker of each portal halfway.")
    args = parser.parse_args()

    usernames = ["admin-0"] + [f"editor-{n}" for n in range(1, args.sessions)]
    with (
        throwaway_workdir("portal-load-") as workdir,
        contextlib.nullcontext(args.database_url) if args.database_url else throwaway_database(
            args.backend, workdir, name=f"portal_load_{os.getpid()}"
        ) as database_url,
    ):  # fmt: skip
        servers = PortalServers(
            database_url=database_url,
            workdir=workdir,
            accounts={name: "Admin" if name.startswith("admin") else "Editor" for name in usernames},
            workers=args.workers,
            threads=args.threads,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            instances=args.instances,
        )
        with servers:
            results: list[tuple[str, object, float]] = []
            stop = threading.Event()
            staff = [Staff(servers.portal_urls, name, results, stop) for name in usernames]
            threads = [threading.Thread(target=member.run) for member in staff]
            started = time.monotonic()
            killed: list[tuple[int, int]] = []
            try:  # the sessions stop, also on Ctrl-C, before the servers do
                for thread in threads:
                    thread.start()
                time.sleep(args.duration / 2)
                if args.kill_worker:
                    killed = kill_workers_mid_write(servers, args)
                time.sleep(max(0.0, args.duration - (time.monotonic() - started)))
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            elapsed = time.monotonic() - started
            servers.set_faults()  # what Polytomic holds at the end, read without faults or latency
            # The cron job, while Polytomic still answers: what came of each write of unknown outcome
            # (its reads are among the requests received, and audited).
            resolved = servers.manage("resolve_writes", "--idle", check=False).splitlines()[-1:]
            received = servers.sandbox_log()["requests"]
            held = {o["id"]: o["name"] for o in requests.get(f"{servers.sandbox_url}/api/organizations", timeout=30,
                    headers={"Authorization": f"Bearer {PARTNER_KEY}"}).json()["data"]}  # fmt: skip
        entries = json.loads(servers.manage("shell", "-c", (
            "import json\nfrom audit.models import AuditEntry\n"
            "print(json.dumps(list(AuditEntry.objects.exclude(action__startswith='audit.').values_list("
            "'id', 'phase', 'method', 'path', 'request_id', 'attempts', 'attempt_id'))))"
        )).splitlines()[-1])  # fmt: skip
        verdicts = json.loads(servers.manage("shell", "-c", (
            "import json\nfrom audit.models import AuditEntry\n"
            "print(json.dumps(list(AuditEntry.objects.exclude(action__startswith='audit.').values_list("
            "'id', 'phase', 'action', 'outcome', 'attempt_id', 'method', 'path', 'request_id'))))"
        )).splitlines()[-1])  # fmt: skip
        # Every unresolved attempt listed: the timeout is all but none, for the listing's cut-off.
        verified = servers.manage("verify_audit", check=False, env={"POLYTOMIC_TOTAL_TIMEOUT": "0.001"})

    statuses = Counter(status for _, status, _ in results)
    cut_short = sum(1 for _, status, _ in results if str(status).startswith("transport:"))
    audit = check_audit(received, entries, verified, cut_short=cut_short)
    errors = {str(k): v for k, v in statuses.items() if k not in (200, 302)}
    latencies = [seconds for _, status, seconds in results]
    by_action = Counter(kind for kind, _, _ in results)
    print(f"\nLoad: {args.sessions} sessions for {elapsed:.0f} s, {args.instances} x gunicorn {args.workers}x"
          f"{args.threads} on {args.backend if not args.database_url else 'the given database'}, "
          f"sandbox +{args.latency_ms:g} ms, {args.fault_rate:.0%} faults")  # fmt: skip
    print(
        f"  portal requests     {len(results)} ({len(results) / elapsed:.1f}/s): "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_action.items()))
    )
    print("  answers             " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    print(f"  errors by kind      {errors or 'none'}")
    print(f"  latency ms          p50 {percentile(latencies, 0.5):.0f}, p90 {percentile(latencies, 0.9):.0f}, "
          f"p99 {percentile(latencies, 0.99):.0f}, max {max(latencies, default=0) * 1000:.0f}")  # fmt: skip
    print(f"  workers killed      {', '.join(f'pid {pid} of portal {i + 1}' for i, pid in killed) or 'none'}; "
          f"{cut_short} requests cut short")  # fmt: skip
    lost, saves = lost_edits({k: v for member in staff for k, v in member.names.items()}, held)
    print(f"  edits lost          {len(lost)} of {saves} saves, to {sum(len(m.names) for m in staff)} organizations")
    print(f"  Polytomic requests  {len(received)} received by the sandbox; {audit.summary}")
    called_failed, unknown_resolved, unknown_left = write_verdicts(received, verdicts)
    print(f"  writes Polytomic made that the log calls failed: {called_failed}")
    print(f"  unknown attempts resolved / left: {unknown_resolved} / {unknown_left} ({' '.join(resolved)})")
    print("  audit chain         " + "\n                      ".join(
        line for line in verified.splitlines() if not line.startswith("{")  # (the checkpoint's stream line)
    ))  # fmt: skip
    failures = list(audit.failures)
    if called_failed:
        failures.append(f"{called_failed} writes Polytomic made are recorded failed")
    if any(isinstance(k, int) and k >= 500 for k in statuses):
        failures.append("the portal answered 5xx")
    # A killed worker took with it what it was serving and the sessions' kept-alive connections
    # to it: at most one request of each session gets no answer, at each kill.
    if cut_short > args.sessions * len(killed):
        failures.append(f"{cut_short} requests got no answer (more than one a session at each kill)")
    if lost:
        failures.append(f"edits lost: Polytomic does not hold the last saved name of {sorted(lost)}")
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
