"""Audit page times at two sizes of the log, on SQLite and PostgreSQL, side by side.

    python benchmarks/audit_pages.py                      # 1,000 and 1,000,000 entries, both databases
    python benchmarks/audit_pages.py --sizes 1000 50000 --backends sqlite

Each (database, size) gets a fresh throwaway database: a temporary SQLite file, or the PostgreSQL
database `portal_bench` on 127.0.0.1 (made for the run and dropped after it). It is migrated and
filled with `seed_audit`, with organizations and actors in proportion so that every timed page is a full one,
and the pages are timed in a child process through Django's test client (the whole portal stack
but the network), after one warm-up. Both sizes are seeded first and timed in alternating rounds,
so drift in the machine's speed falls on both alike; each figure is the median of all rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
from benchmarks.harness import manage, run_checked, throwaway_database  # noqa: E402 (run as a script too)

PAGES = ("unfiltered", "by organization", "by actor")


def measure(runs: int) -> None:
    """In the child: time each page `runs` times and print the times (ms) as JSON."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from audit.models import AuditEntry

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
    client = Client()
    client.force_login(admin)
    latest = AuditEntry.objects.exclude(organization_id="").order_by("-id").first()
    queries = {
        "unfiltered": {},
        "by organization": {"organization": latest.organization_id},
        "by actor": {"actor": latest.actor_username},
    }
    results = {}
    for page, query in queries.items():
        if client.get("/audit/", query).status_code != 200:  # warm-up, and a check
            sys.exit(f"/audit/ {query} did not answer 200")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get("/audit/", query)
            times.append((time.perf_counter() - started) * 1000)
        results[page] = times
    print(json.dumps(results))


@contextmanager
def seeded_log(backend: str, size: int, workdir: str) -> Iterator[dict[str, str]]:
    """The environment of a throwaway database holding an audit log of `size` entries."""
    with throwaway_database(backend, workdir, name=f"portal_bench_{size}") as database_url:
        env = {
            **os.environ,
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url,
            "ALLOWED_HOSTS": "testserver",
            "PYTHONPATH": str(BASE_DIR),
        }
        manage(env, "migrate", "--verbosity", "0")
        # About 500 entries an organization and 20,000 an actor at any size, so every page timed is
        # a full page of 50 rows: the comparison is of the log's length, not of how much a page shows.
        organizations, actors = max(1, size // 500), max(1, size // 20_000)
        seeded = manage(
            env, "seed_audit", "--count", str(size), "--organizations", str(organizations), "--actors", str(actors)
        )
        print(f"  {backend} {size:>10,}: {seeded}", file=sys.stderr)
        yield env


VERIFIED = re.compile(r"verified: ([0-9,]+) entries, .*\(([0-9.]+) s, ")


def compare(backend: str, sizes: tuple[int, int], runs: int, workdir: str, rounds: int = 3) -> dict[int, dict]:
    """The median time of each page at each size. Both logs are seeded first, then timed in
    alternating rounds, so that the machine's drift falls on both alike. Then `verify_audit`
    walks the large log: its "verify" is (entries, seconds)."""
    times: dict[int, dict[str, list[float]]] = {size: {page: [] for page in PAGES} for size in sizes}
    with seeded_log(backend, sizes[0], workdir) as small, seeded_log(backend, sizes[1], workdir) as large:
        for _ in range(rounds):
            for size, env in zip(sizes, (small, large), strict=True):
                measured = json.loads(run_checked(env, str(Path(__file__)), "measure", "--runs", str(runs)).stdout)
                for page in PAGES:
                    times[size][page] += measured[page]
        verified = VERIFIED.search(manage(large, "verify_audit", "--no-checkpoint"))
    medians = {size: {page: statistics.median(ms) for page, ms in pages.items()} for size, pages in times.items()}
    medians[sizes[1]]["verify"] = (int(verified[1].replace(",", "")), max(float(verified[2]), 0.01))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="compare", choices=["compare", "measure"])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.mode == "measure":
        measure(args.runs)
        return
    small, large = args.sizes
    with tempfile.TemporaryDirectory() as workdir:
        results = {}
        for backend in args.backends:
            for size, medians in compare(backend, (small, large), args.runs, workdir).items():
                results[(backend, size)] = medians
                if "verify" in medians:
                    entries, seconds = medians["verify"]
                    print(f"  {backend}: verify_audit walked {entries:,} entries in {seconds:.1f} s "
                          f"({entries / seconds:,.0f} a second)", file=sys.stderr)  # fmt: skip
    print(f"\nAudit page time, median of 3 rounds of {args.runs} runs (ms)")
    header = f"{'page':<18}" + "".join(
        f"{b + ' ' + format(small, ','):>22}{format(large, ','):>12}{'ratio':>8}" for b in args.backends
    )
    print(header)
    for page in PAGES:
        line = f"{page:<18}"
        for backend in args.backends:
            t_small, t_large = results[(backend, small)][page], results[(backend, large)][page]
            line += f"{t_small:>22.1f}{t_large:>12.1f}{t_large / t_small:>8.2f}"
        print(line)


if __name__ == "__main__":
    main()
