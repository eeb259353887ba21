"""The benchmark scripts still run (at toy sizes): their figures are for people, not assertions."""

from __future__ import annotations

import os

from django.core.management import get_commands

from benchmarks.load import NO_ANSWER, NOT_SAVED, SAVED, lost_edits
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


class LostEditsTests:
    """The load run's check of what Polytomic holds against what each session was told."""

    def test_the_last_saved_name_held_is_no_loss(self):
        sent = {"a": [("A1", SAVED), ("A2", NOT_SAVED), ("A3", SAVED)]}
        assert lost_edits(sent, {"a": "A3"}) == ([], 2)

    def test_a_name_sent_after_the_last_save_explains_what_is_held(self):
        sent = {"a": [("A1", SAVED), ("A2", NOT_SAVED)], "b": [("B1", SAVED), ("B2", NO_ANSWER)]}
        assert lost_edits(sent, {"a": "A2", "b": "B2"}) == ([], 2)

    def test_a_write_whose_answer_never_came_may_land_after_later_saves(self):
        sent = {"a": [("A1", SAVED), ("A2", NO_ANSWER), ("A3", SAVED)]}
        assert lost_edits(sent, {"a": "A2"}) == ([], 2)

    def test_an_earlier_name_or_none_held_in_place_of_the_last_save_is_a_loss(self):
        sent = {"a": [("A1", SAVED), ("A2", NOT_SAVED), ("A3", SAVED)], "b": [("B1", SAVED), ("B2", SAVED)]}
        assert lost_edits(sent, {"a": "A2", "b": "B1"}) == (["a", "b"], 4)
        assert lost_edits(sent, {"a": "A3"}) == (["b"], 4)
