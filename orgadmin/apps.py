from __future__ import annotations

from django.apps import AppConfig


class OrgadminConfig(AppConfig):
    name = "orgadmin"
    verbose_name = "Organization portal"

    def ready(self) -> None:
        from audit.verification import verified
        from orgadmin import change_requests, checks  # noqa: F401 (registers the checks)

        # verify_audit's report of the change requests sent whose outcome is unknown.
        verified.connect(change_requests.report_outcomes_unknown, dispatch_uid="orgadmin.change_requests")
