"""Throughput, connection reuse and memory, measured in one run: keep-alive connections asking
for detail pages for a fixed time, against the bound of gunicorn's threads at the sandbox's
latency; the TCP connections the sandbox accepted meanwhile; the peak RSS of a worker."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import PortalServers, StaffClient
from benchmarks.report import Report
from benchmarks.sandbox_calls import LATENCY_MS
from devtools.sandbox import ACME_ID

# The portal's gunicorn in the benchmark: the throughput's bound is its threads over the latency.
WORKERS, THREADS = 2, 8


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
