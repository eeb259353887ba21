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

Each measure has its module: `benchmarks/pages.py` (1, 8, 9), `benchmarks/throughput.py` (3, 4,
5), `benchmarks/audit_costs.py` (2, 6, 7); `benchmarks/sandbox_calls.py` drives the sandbox, and
`benchmarks/report.py` is the table. This module runs them in turn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.audit_costs import audit_scale, audit_write_cost
from benchmarks.harness import PortalServers, StaffClient, postgres_available, throwaway_database, throwaway_workdir
from benchmarks.pages import cpu_per_page, list_overhead, page_overhead
from benchmarks.report import Report
from benchmarks.sandbox_calls import LATENCY_MS, Polytomic, fill_up
from benchmarks.throughput import THREADS, WORKERS, throughput


@dataclass(frozen=True)
class Config:
    """The sizes of a run (`manage.py bench --quick` makes them small)."""

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
    audit_scale(config.audit_sizes, config.audit_runs, backends, report, progress)
    return report
