"""The portal's benchmark: one table of ratios and shares, each against its target.

Run it as `python manage.py bench` (see `benchmarks/management/commands/bench.py` for the options).
Everything runs on loopback on throwaway databases and is stopped at the end:

1. Page overhead: the sandbox with 50 ms of added latency, gunicorn (2 workers x 8 threads) in
   front of it, 1,000 organizations. Each page is timed over HTTP, one request at a time, and so
   are the same Polytomic calls made directly with a pooled client, in turns; the ratio is of the
   medians. The edit submit's calls are the fresh read of its lost-update guard and the write.
2. Audit scale: `benchmarks/audit_pages.py`, the audit page at a small and a large log.
3. Throughput: 32 keep-alive connections asking for detail pages for a fixed time; requests per
   second over the bound of the portal's threads (16 / 50 ms = 320 per second).
4. Connection reuse: TCP connections the sandbox accepted during (3), per 1,000 calls.
5. Memory: the largest peak RSS (VmHWM) of a gunicorn worker, sampled through (3).
6. Audit write cost: the median time the audit log takes to record a read (one entry) and a write
   (its attempt before it is sent, its outcome after), on the database of (3) after it, as a
   share of a 50 ms call.
7. Audit verification: `verify_audit` over the large audit log of (2), entries a second.
8. CPU per page: `benchmarks/cpu_pages.py`, in a child process with the portal's settings and
   database and the sandbox at zero latency, the median process CPU time of each page, beside
   that of a signed-in request that renders nothing.
9. The list page at 10,000 organizations, as (1), after the sandbox is filled up to that many.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from benchmarks import audit_pages
from benchmarks.harness import (
    PortalServers,
    StaffClient,
    postgres_available,
    run_checked,
    throwaway_database,
    throwaway_workdir,
)
from devtools.sandbox import ACME_ID, PARTNER_KEY
from devtools.support import hidden_fields

LATENCY_MS = 50.0
WORKERS, THREADS = 2, 8


@dataclass(frozen=True)
class Config:
    organizations: int = 1_000
    runs: int = 15
    duration: float = 20.0
    audit_sizes: tuple[int, int] = (1_000, 1_000_000)
    audit_runs: int = 7
    backends: tuple[str, ...] = ("sqlite", "postgres")
    portal_backend: str = "postgres"
    audit_writes: int = 300
    cpu_runs: int = 30
    large_list: int = 10_000


@dataclass
class Row:
    label: str
    value: float
    unit: str
    target: str
    met: bool
    detail: str = ""


@dataclass
class Report:
    title: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, label: str, value: float, unit: str, target: float, *, at_most: bool = True, detail: str = ""
    ) -> None:
        met = value <= target if at_most else value >= target
        shown = f"{'<=' if at_most else '>='} {target:g}{unit if unit == '%' else ''}"
        self.rows.append(Row(label, value, unit, shown, met, detail))

    def table(self) -> str:
        width = max(len(row.label) for row in self.rows)
        lines = [self.title, ""] if self.title else []
        lines += [f"{'measure':<{width}}  {'value':>9}  {'target':>9}  {'':4}  detail"]
        for row in self.rows:
            value = f"{row.value:.1f}%" if row.unit == "%" else f"{row.value:.2f}{row.unit}"
            lines.append(
                f"{row.label:<{width}}  {value:>9}  {row.target:>9}  {'ok' if row.met else 'MISS':4}  {row.detail}"
            )
        return "\n".join(lines + self.notes)


# --- Direct calls to the sandbox -------------------------------------------------------------------


class Polytomic:
    """Direct calls to the sandbox, pooled and keep-alive like the portal's own client."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update({
            "Authorization": f"Bearer {PARTNER_KEY}",
            "X-Polytomic-Version": "2025-09-18",
            "Accept": "application/json",
        })  # fmt: skip
        self.writes = 0

    def get(self, path: str) -> requests.Response:
        response = self.http.get(self.base + path, timeout=30)
        response.raise_for_status()
        response.json()
        return response

    def put(self, path: str, body: dict) -> requests.Response:
        self.writes += 1
        response = self.http.put(
            self.base + path, json=body, headers={"Idempotency-Key": f"bench-direct-{self.writes:08d}"}, timeout=30
        )
        response.raise_for_status()
        return response

    def create(self, name: str) -> str:
        response = self.http.post(self.base + "/api/organizations", json={"name": name}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]["id"]

    def faults(self, **settings: object) -> None:
        requests.post(self.base + "/_sandbox/faults", json=settings, timeout=30).raise_for_status()


# --- 1. Page overhead ------------------------------------------------------------------------------


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


def fill_up(direct: Polytomic, organizations: int) -> None:
    """Creates organizations in the sandbox until it holds `organizations` (it starts with four)."""
    present = len(direct.get("/api/organizations").json()["data"])
    for n in range(present, organizations):
        direct.create(f"Bench organization {n:05d}")


# --- 8. CPU per page -------------------------------------------------------------------------------

CPU_TARGET_MS = 6.0


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


# --- 3, 4, 5. Throughput, connection reuse, memory ------------------------------------------------


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def throughput(servers: PortalServers, staff: StaffClient, duration: float, report: Report) -> None:
    """Keeps twice as many requests in flight as the portal has threads, for `duration` seconds."""
    url = urlsplit(servers.portal_url)
    headers = {"X-Forwarded-Proto": "https", "Cookie": staff.cookie_header()}
    path = f"/organizations/{ACME_ID}/"
    connections = 2 * WORKERS * THREADS
    statuses: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    limit = int(duration * 2000)  # a bound on the requests, whatever happens

    def client() -> None:
        http_connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        while time.monotonic() < deadline:
            try:
                http_connection.request("GET", path, headers=headers)
                response = http_connection.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    http_connection.close()
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                http_connection.close()
            with lock:
                statuses[status] += 1
                if sum(statuses.values()) >= limit:
                    return
        http_connection.close()

    before = servers.sandbox_log()
    peaks: dict[int, float] = {}
    cpu_before = {pid: cpu_seconds(pid) for pid in worker_pids(servers.gunicorn.pid)}
    sandbox_cpu_before, own_cpu_before = cpu_seconds(servers.sandbox.pid), time.process_time()
    machine_before = machine_cpu()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for pid in worker_pids(servers.gunicorn.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
        time.sleep(0.5)
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for pid in worker_pids(servers.gunicorn.pid):
        peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
    portal_cpu = sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in worker_pids(servers.gunicorn.pid))
    sandbox_cpu, own_cpu = cpu_seconds(servers.sandbox.pid) - sandbox_cpu_before, time.process_time() - own_cpu_before
    machine_after = machine_cpu()
    busy = (machine_after[0] - machine_before[0]) / max(1, machine_after[1] - machine_before[1])
    after = servers.sandbox_log()

    done = statuses[200]
    if done != sum(statuses.values()):
        report.notes.append(f"Throughput run: answers other than 200: {dict(statuses)}")
    bound = WORKERS * THREADS / (LATENCY_MS / 1000)
    rate = done / elapsed
    report.add(
        f"throughput, gunicorn {WORKERS}x{THREADS}: share of {bound:.0f}/s bound",
        100 * rate / bound,
        "%",
        80,
        at_most=False,
        detail=f"{rate:.0f} detail pages/s over {elapsed:.0f} s",
    )
    calls = len(after["requests"]) - len(before["requests"])
    accepted = after["connections"] - before["connections"]
    if done:
        report.notes.append(
            f"CPU per detail page in the throughput run: portal {1000 * portal_cpu / done:.1f} ms, "
            f"sandbox {1000 * sandbox_cpu / done:.1f} ms, load client {1000 * own_cpu / done:.1f} ms; "
            f"the machine's {os.cpu_count()} CPUs were {busy:.0%} busy."
        )
    report.add(
        "TCP connections to Polytomic per 1,000 calls",
        1000 * accepted / max(calls, 1),
        "",
        WORKERS * THREADS,
        detail=f"{accepted} connections for {calls:,} calls",
    )
    report.add(
        "peak RSS of a gunicorn worker",
        max(peaks.values(), default=0.0),
        " MB",
        120,
        detail=f"{len(peaks)} worker process(es) sampled",
    )


# --- 6. Audit write cost ---------------------------------------------------------------------------


def audit_write_cost(servers: PortalServers, writes: int, report: Report) -> None:
    # The entries' stream lines go to a file, as AUDIT_STREAM_FILE has them: standard output is the figures'.
    env = {**servers.env, "AUDIT_STREAM_FILE": str(Path(servers.workdir, "measured-stream.jsonl"))}
    figures = json.loads(run_checked(env, "-m", "benchmarks.measure_audit_write", str(writes)).stdout)
    read, attempt, outcome = figures["read"], figures["attempt"], figures["outcome"]
    report.add(
        "audit write: share of a 50 ms call",
        100 * read["median_ms"] / LATENCY_MS,
        "%",
        2,
        detail=f"a read's one entry: {read['median_ms']:.2f} ms (median of {writes}, p90 {read['p90_ms']:.2f} ms)",
    )
    both = attempt["median_ms"] + outcome["median_ms"]
    report.add(
        "audit write of a write (attempt + outcome): share of a 50 ms call",
        100 * both / LATENCY_MS,
        "%",
        4,
        detail=f"attempt {attempt['median_ms']:.2f} ms (p90 {attempt['p90_ms']:.2f}) + outcome "
        f"{outcome['median_ms']:.2f} ms (p90 {outcome['p90_ms']:.2f}), before and after the call",
    )


# --- 2. Audit scale --------------------------------------------------------------------------------


def audit_scale(config: Config, backends: tuple[str, ...], report: Report, progress: Callable[[str], None]) -> None:
    small, large = config.audit_sizes
    with throwaway_workdir("portal-bench-audit-") as workdir:
        for backend in backends:
            progress(f"Audit pages ({backend}, {small:,} and {large:,} entries)...")
            times = audit_pages.compare(backend, (small, large), config.audit_runs, workdir)
            for page in audit_pages.PAGES:
                report.add(
                    f"audit page {page}, {backend}: {large:,} / {small:,}",
                    times[large][page] / times[small][page],
                    "",
                    1.5,
                    detail=f"{times[large][page]:.1f} ms / {times[small][page]:.1f} ms",
                )
            entries, seconds = times[large]["verify"]
            report.add(
                f"audit verify, {backend}: {entries:,} entries",
                seconds,
                " s",
                max(1.0, 30 * entries / 1_000_000),  # well under a minute a million: half of one
                detail=f"{entries / seconds:,.0f} entries a second (verify_audit, whole chain)",
            )


# --- Entry point -----------------------------------------------------------------------------------


def run(config: Config, progress: Callable[[str], None] = print) -> Report:
    report = Report()
    backends = config.backends
    if "postgres" in (*backends, config.portal_backend) and not postgres_available():
        report.notes.append("PostgreSQL is not reachable on 127.0.0.1:5432: its rows are left out.")
        backends = tuple(b for b in backends if b != "postgres")
        portal_backend = "sqlite"
    else:
        portal_backend = config.portal_backend
    small, large = config.audit_sizes
    report.title = (
        f"Portal benchmark: gunicorn {WORKERS}x{THREADS} on {portal_backend}, sandbox +{LATENCY_MS:g} ms, "
        f"{config.organizations:,} organizations; medians of {config.runs} page runs and "
        f"3 alternating rounds of {config.audit_runs} audit page runs; audit log {small:,} vs {large:,} "
        f"entries; {os.cpu_count()} CPUs"
    )
    with (
        throwaway_workdir("portal-bench-") as workdir,
        throwaway_database(portal_backend, workdir, name="portal_bench_pages") as database_url,
    ):
        servers = PortalServers(
            database_url=database_url,
            workdir=workdir,
            accounts={"bench-admin": "Admin"},
            workers=WORKERS,
            threads=THREADS,
        )
        with servers:
            direct = Polytomic(servers.sandbox_url)
            fill_up(direct, config.organizations)
            direct.faults(latency_ms=LATENCY_MS)
            staff = StaffClient(servers.portal_url, "bench-admin")
            if not staff.sign_in():
                sys.exit("could not sign in to the portal")
            progress(f"Page overhead ({portal_backend})...")
            page_overhead(servers, staff, direct, runs=config.runs, organizations=config.organizations, report=report)
            progress("CPU per page, in-process...")
            cpu_per_page(servers, direct, config.cpu_runs, report)
            progress(f"Throughput for {config.duration:g} s...")
            throughput(servers, staff, config.duration, report)
            progress("Audit writes...")
            audit_write_cost(servers, config.audit_writes, report)
            progress(f"List page at {config.large_list:,} organizations...")
            list_overhead(servers, staff, direct, runs=config.runs, organizations=config.large_list, report=report)
    audit_scale(config, backends, report, progress)
    return report
