from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"

    def ready(self) -> None:
        from orgadmin import checks, signals  # noqa: F401 (registers the checks, connects the sign-in loggers)
