from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from audit import guard

        # Each SQLite connection gets the function the audit table's DELETE trigger asks.
        connection_created.connect(guard.register_guard, dispatch_uid="audit.guard")
