from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"

    def ready(self) -> None:
        from audit.verification import verified
        from orgadmin import checks  # noqa: F401 (registers the checks)
        from orgadmin.change_requests.resolving import report_outcomes_unknown

        # verify_audit's report of the change requests sent whose outcome is unknown.
        verified.connect(report_outcomes_unknown, dispatch_uid="orgadmin.change_requests")
