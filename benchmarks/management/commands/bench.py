from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmarks.bench import Config, run


class Command(BaseCommand):
    help = (
        "Benchmarks the portal and prints one table of ratios and shares against their targets: page "
        "overhead over Polytomic, audit page time at a small and a large log, throughput, connection "
        "reuse, worker memory, audit write cost and the portal's CPU per page. Starts its own sandbox "
        "and gunicorn on loopback, on throwaway databases, and stops them at the end. See benchmarks/bench.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organizations", type=int, default=1000, help="Organizations in the sandbox (1000).")
        parser.add_argument("--runs", type=int, default=15, help="Timed runs of each page, for the medians (15).")
        parser.add_argument("--duration", type=float, default=20, help="Seconds of the throughput run (20).")
        parser.add_argument(
            "--audit-sizes", type=int, nargs=2, default=[1_000, 1_000_000], metavar=("SMALL", "LARGE"),
            help="Audit log sizes compared (1000 1000000; seeding a million takes minutes).",
        )  # fmt: skip
        parser.add_argument("--audit-runs", type=int, default=7, help="Timed runs of each audit page (7).")
        parser.add_argument(
            "--portal-database", choices=["postgres", "sqlite"], default="postgres",
            help="Database of the portal under gunicorn (postgres, as in production; sqlite when it is unreachable).",
        )  # fmt: skip
        parser.add_argument(
            "--quick", action="store_true",
            help="A small configuration to check that the benchmark runs (CI): its figures mean little.",
        )  # fmt: skip
        parser.add_argument("--strict", action="store_true", help="Exit non-zero when a row misses its target.")

    def handle(self, *args: object, **options) -> None:
        if options["quick"]:
            config = Config(organizations=200, runs=3, duration=3, audit_sizes=(200, 2_000), audit_runs=2,
                            portal_backend=options["portal_database"], audit_writes=50, cpu_runs=5,
                            large_list=1_000)  # fmt: skip
        else:
            small, large = options["audit_sizes"]
            if not 0 < small < large:
                raise CommandError("--audit-sizes needs SMALL smaller than LARGE, both above zero.")
            if options["organizations"] < 4 or options["runs"] < 1 or options["duration"] <= 0:
                raise CommandError("--organizations needs at least 4, --runs at least 1, --duration above zero.")
            config = Config(
                organizations=options["organizations"],
                runs=options["runs"],
                duration=options["duration"],
                audit_sizes=(small, large),
                audit_runs=options["audit_runs"],
                portal_backend=options["portal_database"],
            )
        report = run(config, progress=self.stderr.write)
        self.stdout.write(report.table())
        missed = [row.label for row in report.rows if not row.met]
        if options["strict"] and missed:
            raise CommandError(f"{len(missed)} row(s) missed the target: {', '.join(missed)}")
