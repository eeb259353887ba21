"""The benchmark scripts still run (at toy sizes): their figures are for people, not assertions."""

from __future__ import annotations

import os

from django.core.management import get_commands

from devtools.support import run_python


def test_the_audit_page_benchmark_prints_its_table():
    result = run_python(
        "benchmarks/audit_pages.py", "--sizes", "20", "60", "--backends", "sqlite", "--runs", "1",
        env={"PATH": os.environ["PATH"]}, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "Audit page time, median of 3 rounds of 1 runs (ms)"
    assert [line.split()[0] for line in lines[2:]] == ["unfiltered", "by", "by"]


def test_the_benchmark_command_belongs_to_the_benchmarks_not_to_the_tools_they_use():
    """`manage.py bench` comes with benchmarks/, which uses devtools/: devtools/ never imports it
    (import-linter's contract), and a checkout without benchmarks/ simply has no such command."""
    assert get_commands()["bench"] == "benchmarks"
