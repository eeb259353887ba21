from __future__ import annotations

from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """The benchmark, installed with the development tools (`manage.py bench`): it uses them, they
    never use it."""

    name = "benchmarks"
    verbose_name = "Benchmarks"
