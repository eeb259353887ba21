from __future__ import annotations

from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff sign-in"

    def ready(self) -> None:
        from staff import checks, signals  # noqa: F401 (registers the checks, connects the receivers)
