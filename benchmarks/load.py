"""Load the portal under gunicorn against a slow, failing sandbox, and check that it holds.

    python benchmarks/load.py                                   # 8 sessions for 20 s
    python benchmarks/load.py --sessions 16 --duration 600      # longer
    python benchmarks/load.py --database-url postgres://postgres@127.0.0.1:5432/portal_load

Everything runs on loopback and is stopped at the end: the sandbox (`manage.py sandbox`, with 50 ms
added latency and a 5% mix of 500s, 503s, dropped connections and garbage answers), gunicorn from
`deploy/gunicorn.conf.py` (3 workers x 4 threads) on a throwaway database, and N signed-in sessions
doing what staff do (list, search, view, create, edit, delete) until the time is up.

It prints requests, errors by kind and latency percentiles, and exits non-zero unless the portal
answered no 5xx of its own (a 502 whose page says that Polytomic failed is the status policy at
work, counted apart), the audit log's attempts add up to the requests the sandbox received (no
call unrecorded), and `verify_audit` passes.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness import PortalServers, StaffClient, fresh_database, throwaway_workdir
from devtools.support import hidden_fields

SEED_IDS = ["7a1f0c2e-0000-4000-8000-000000000002", "7a1f0c2e-0000-4000-8000-000000000004"]


POLYTOMIC_FAILED = "502 with Polytomic's failure shown"


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
        if status == 502 and 'role="alert"' in response.text:
            status = POLYTOMIC_FAILED  # the portal's page saying so, as the status policy has it
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
    parser.add_argument("--database-url", default="", help="A throwaway database (default: a temporary SQLite file).")
    args = parser.parse_args()

    usernames = ["admin-0"] + [f"editor-{n}" for n in range(1, args.sessions)]
    with throwaway_workdir("portal-load-") as workdir:
        servers = PortalServers(
            database_url=args.database_url or fresh_database("sqlite", workdir),
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
            time.sleep(args.duration)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            elapsed = time.monotonic() - started
            received = len(servers.sandbox_log()["requests"])
        attempts = servers.manage("shell", "-c", (
            "from django.db.models import Sum\nfrom orgadmin.models import AuditEntry\n"
            "print(AuditEntry.objects.exclude(action='audit.prune').aggregate(n=Sum('attempts'))['n'] or 0)"
        )).splitlines()[-1]  # fmt: skip
        verified = servers.manage("verify_audit", check=False)

    statuses = Counter(status for _, status, _ in results)
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
    print(f"  Polytomic requests  {received} received by the sandbox, {attempts} attempts in the audit log")
    print(f"  audit chain         {verified}")
    failures = []
    if any(isinstance(k, int) and k >= 500 for k in statuses):
        failures.append("the portal answered 5xx")
    if int(attempts) != received:
        failures.append(f"audit attempts ({attempts}) differ from requests received ({received})")
    if "chain intact" not in verified:
        failures.append("verify_audit failed")
    if not all(member.signed_in for member in staff):
        failures.append("not every session could sign in")
    if received == 0:
        failures.append("no call reached the sandbox")
    if not results or statistics.mean(1 if s in (200, 302) else 0 for _, s, _ in results) < 0.7:
        failures.append("fewer than 70% of the portal's answers were plain pages or redirects")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))
    print("PASSED: no 5xx, every call audited, chain intact")


if __name__ == "__main__":
    main()
