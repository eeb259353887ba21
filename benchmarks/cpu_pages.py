"""The portal's own CPU per page: median process CPU time of a request, in-process.

    python benchmarks/cpu_pages.py measure --runs 30                   # the figures, as JSON
    python benchmarks/cpu_pages.py measure --runs 100 --profile detail  # one page's SQL and cProfile

Run as a child of `benchmarks/bench.py`, with the environment of its gunicorn (production
settings, DEBUG off, the same database) and its sandbox answering at zero latency in its own
process, so that what is counted here is the portal's work alone: Django's test client sends each
request through the whole stack but the network (middleware, session, permissions, the view, the
call to the sandbox and its audit entry, rendering), and `time.process_time()` around it counts
the CPU of every thread of this process. Each page is warmed up first, then measured `runs` times.

"nothing" is a signed-in request that renders nothing: the middleware, session and permission
reads alone, through a view that answers 204 after the same permission check as the pages.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

PAGES = ("nothing", "detail", "list", "edit form", "edit submit", "audit")
WARM_UP = 3


def _pages(client, acme_id: str):
    """Each page as (name, untimed preparation, timed request) with the checks of its answer."""
    from devtools.support import hidden_fields

    edit_path = f"/organizations/{acme_id}/edit/"
    renames = iter(range(1_000_000))

    def get(path: str, status: int = 200):
        def request():
            response = client.get(path, secure=True)
            if response.status_code != status or b'role="alert"' in response.content:
                sys.exit(f"{path}: answered {response.status_code}, not {status}: {response.content[:500]!r}")

        return request

    def edit_submit():
        form = client.get(edit_path, secure=True).content.decode()
        data = {
            **hidden_fields(form),
            "name": f"Acme Corporation {next(renames):06d}",
            "sso_domain": "acme.example",
            "sso_org_id": "org_01ACME",
        }

        def request():
            response = client.post(edit_path, data, secure=True)
            if response.status_code != 302:
                sys.exit(f"edit submit: answered {response.status_code}: {response.content[:500]!r}")

        return request

    return {
        "nothing": lambda: get("/_bench/nothing/", 204),
        "detail": lambda: get(f"/organizations/{acme_id}/"),
        "list": lambda: get("/organizations/"),
        "edit form": lambda: get(edit_path),
        "edit submit": edit_submit,
        "audit": lambda: get("/audit/"),
    }


def _signed_in_pages():
    """In the child: Django set up, an Admin signed in, and the pages to time."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client

    from devtools.sandbox import ACME_ID

    client = Client(HTTP_USER_AGENT="portal-cpu-bench")
    client.force_login(User.objects.get(username="bench-admin"))
    return _pages(client, ACME_ID)


def measure(runs: int) -> None:
    """In the child: the median and 90th percentile CPU (ms) of each page, printed as JSON."""
    import gc

    from django.test import override_settings

    pages = _signed_in_pages()
    results: dict[str, dict[str, float]] = {}
    with override_settings(ROOT_URLCONF="benchmarks.cpu_urls"):
        for name, prepare in pages.items():
            for _ in range(WARM_UP):
                prepare()()
            times = []
            for _ in range(runs):
                request = prepare()
                gc.collect()
                started = time.process_time()
                request()
                times.append((time.process_time() - started) * 1000)
            results[name] = {"median_ms": statistics.median(times), "p90_ms": statistics.quantiles(times, n=10)[-1]}
    print(json.dumps(results))


def profile(page: str, runs: int) -> None:
    """In the child: the SQL of one request for `page`, then the cProfile of `runs` more."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    prepare = _signed_in_pages()[page]
    with override_settings(ROOT_URLCONF="benchmarks.cpu_urls"):
        for _ in range(WARM_UP):
            prepare()()
        with CaptureQueriesContext(connection) as queries:
            prepare()()
        for query in queries.captured_queries:
            print(query["sql"][:300])
        profiler = cProfile.Profile()
        for _ in range(runs):
            request = prepare()
            profiler.enable()
            request()
            profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["measure"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--profile", default="", choices=["", *PAGES])
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.runs)
    else:
        measure(args.runs)


if __name__ == "__main__":
    main()
