from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"
