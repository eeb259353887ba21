"""The benchmark scripts still run (at toy sizes): their figures are for people, not assertions."""

from __future__ import annotations

import os
import sys

import pytest
from django.core.management import CommandError, call_command

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


def test_the_benchmark_command_says_what_it_needs_where_the_benchmarks_are_left_out(monkeypatch):
    """A checkout without benchmarks/ (devtools installed by hand): the command says so, not a traceback."""
    monkeypatch.setitem(sys.modules, "benchmarks.bench", None)  # as if the module were not there
    with pytest.raises(CommandError, match="runs from a checkout of the source"):
        call_command("bench", "--quick")
