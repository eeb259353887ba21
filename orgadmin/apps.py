from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"

    def ready(self) -> None:
        from orgadmin import checks  # noqa: F401 (registers the checks)
