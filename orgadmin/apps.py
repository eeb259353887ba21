from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from orgadmin import audit_log, checks  # noqa: F401 (registers the checks)

        # Each SQLite connection gets the function the audit table's DELETE trigger asks.
        connection_created.connect(audit_log.register_guard, dispatch_uid="orgadmin.audit_guard")
