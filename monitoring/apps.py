"""The monitoring app: counts what the audit store and the Polytomic client report as it happens."""

from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # The product tells what happens through signals of its own; it never imports this app.
        from audit.protocol import recorded
        from audit.store import appended
        from monitoring import metrics

        appended.connect(metrics.count_append, dispatch_uid="monitoring.count_append")
        recorded.connect(metrics.count_call, dispatch_uid="monitoring.count_call")
