"""What a page costs: its time over that of the Polytomic calls it makes (the detail and list pages,
the edit submit; the list again at a larger sandbox), and its CPU in-process
(`benchmarks/cpu_pages.py`, run as a child)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import requests

from benchmarks.harness import PortalServers, StaffClient, run_checked
from benchmarks.report import Report
from benchmarks.sandbox_calls import LATENCY_MS, Polytomic, fill_up
from devtools.sandbox import ACME_ID
from devtools.support import hidden_fields

CPU_TARGET_MS = 6.0


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def expect(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status or 'role="alert"' in response.text:
        sys.exit(f"{what}: the portal answered {response.status_code}, not {status}:\n{response.text[:1000]}")
    return response


def page_overhead(
    servers: PortalServers, staff: StaffClient, direct: Polytomic, *, runs: int, organizations: int, report: Report
) -> None:
    pages = [
        ("detail page", f"/organizations/{ACME_ID}/", f"/api/organizations/{ACME_ID}", 1.10),
        (f"list page, {organizations:,} organizations", "/organizations/", "/api/organizations", 1.25),
    ]
    for label, page_path, api_path, target in pages:
        page_ratio(servers, staff, direct, label, page_path, api_path, target=target, runs=runs, report=report)

    edit_page_times, edit_call_times = [], []
    before = len(servers.sandbox_log()["requests"])
    for run in range(runs + 1):
        page_time, call_time = edit_once(staff, direct, f"Acme Corporation {run:04d}")
        if run:  # the first is the warm-up
            edit_page_times.append(page_time)
            edit_call_times.append(call_time)
    # Per run: the form's read (untimed), the submit's read and write, and the direct three.
    calls = (len(servers.sandbox_log()["requests"]) - before) / (runs + 1) - 4
    add_ratio(report, "edit submit (read + write)", edit_page_times, edit_call_times, 1.10, calls)


def page_ratio(
    servers: PortalServers,
    staff: StaffClient,
    direct: Polytomic,
    label: str,
    page_path: str,
    api_path: str,
    *,
    target: float,
    runs: int,
    report: Report,
) -> None:
    """A page against the Polytomic call it makes, timed in turns after one warm-up of each."""

    def page() -> None:
        expect(staff.send("GET", page_path), 200, page_path)

    def call() -> None:
        direct.get(api_path)

    page()  # warm-up
    call()
    before = len(servers.sandbox_log()["requests"])
    page_times, call_times = [], []
    for _ in range(runs):
        page_times.append(timed(page))
        call_times.append(timed(call))
    calls = (len(servers.sandbox_log()["requests"]) - before - runs) / runs
    add_ratio(report, label, page_times, call_times, target, calls)


def edit_once(staff: StaffClient, direct: Polytomic, name: str) -> tuple[float, float]:
    """Renames Acme through the edit form (timing the submit), then directly (timing a read and a
    write, as the submit makes them)."""
    path, api_path = f"/organizations/{ACME_ID}/edit/", f"/api/organizations/{ACME_ID}"
    form = expect(staff.send("GET", path), 200, "edit form").text
    data = {**hidden_fields(form), "name": name, "sso_domain": "acme.example", "sso_org_id": "org_01ACME"}
    page_time = timed(lambda: expect(staff.send("POST", path, data), 302, "edit submit"))
    current = direct.get(api_path).json()["data"]
    call_time = timed(lambda: (direct.get(api_path), direct.put(api_path, {**current, "name": name + " direct"})))
    return page_time, call_time


def add_ratio(report: Report, label: str, page_times, call_times, target: float, calls: float) -> None:
    page_ms, call_ms = statistics.median(page_times), statistics.median(call_times)
    report.add(
        f"{label}: page / Polytomic",
        page_ms / call_ms,
        "",
        target,
        detail=f"{page_ms:.1f} ms / {call_ms:.1f} ms; {calls:g} call(s) a page",
    )


def list_overhead(
    servers: PortalServers, staff: StaffClient, direct: Polytomic, *, runs: int, organizations: int, report: Report
) -> None:
    """(9): the list page's ratio once the sandbox holds `organizations`."""
    direct.faults(latency_ms=0)
    fill_up(direct, organizations)
    direct.faults(latency_ms=LATENCY_MS)
    label = f"list page, {organizations:,} organizations"
    page_ratio(
        servers, staff, direct, label, "/organizations/", "/api/organizations", target=1.40, runs=runs, report=report
    )


# --- CPU per page ---------------------------------------------------------------------------------


def cpu_per_page(servers: PortalServers, direct: Polytomic, runs: int, report: Report) -> None:
    direct.faults(latency_ms=0)
    env = {
        **servers.env,
        "ALLOWED_HOSTS": "testserver",  # Django's test client's host
        "AUDIT_STREAM_FILE": str(Path(servers.workdir, "cpu-stream.jsonl")),
    }
    try:
        figures = json.loads(run_checked(env, "benchmarks/cpu_pages.py", "measure", "--runs", str(runs)).stdout)
    finally:
        direct.faults(latency_ms=LATENCY_MS)
    nothing = figures.pop("nothing")["median_ms"]
    report.add(
        "CPU of a signed-in request that renders nothing",
        nothing,
        " ms",
        CPU_TARGET_MS,
        detail="middleware, session, user and permission reads; a 204 after the pages' permission check",
    )
    for page, figure in figures.items():
        report.add(
            f"CPU per page: {page}",
            figure["median_ms"],
            " ms",
            CPU_TARGET_MS,
            detail=f"the page's own {figure['median_ms'] - nothing:.2f} ms over the empty request's; "
            f"p90 {figure['p90_ms']:.2f} ms; median of {runs}",
        )
