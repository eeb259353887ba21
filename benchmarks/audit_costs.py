"""What the audit log costs: the time to record a call's entries (`benchmarks/measure_audit_write.py`,
as a share of a call), and the audit page and `verify_audit` at a small and a large log
(`benchmarks/audit_pages.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from benchmarks import audit_pages
from benchmarks.harness import PortalServers, run_checked, throwaway_workdir
from benchmarks.report import Report
from benchmarks.sandbox_calls import LATENCY_MS


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


def audit_scale(
    sizes: tuple[int, int], runs: int, backends: tuple[str, ...], report: Report, progress: Callable[[str], None]
) -> None:
    small, large = sizes
    with throwaway_workdir("portal-bench-audit-") as workdir:
        for backend in backends:
            progress(f"Audit pages ({backend}, {small:,} and {large:,} entries)...")
            times = audit_pages.compare(backend, (small, large), runs, workdir)
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
