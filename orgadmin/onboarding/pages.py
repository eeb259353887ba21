"""A flow's page as the onboarding views show it: its tasks by step, where it stands, and its
latest calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.shortcuts import get_object_or_404

from audit.models import AuditEntry
from audit.rows import audit_rows
from orgadmin.models import Onboarding, OnboardingTask
from orgadmin.onboarding import flow as onboarding
from orgadmin.onboarding.flow import Step

ACTIVITY_SHOWN = 50
STEP_ACTIONS = {
    Step.ORGANIZATION: [AuditEntry.Action.ISSUER_CHECK, AuditEntry.Action.CREATE],
    Step.CONNECTIONS: [AuditEntry.Action.CONNECTION_LIST, AuditEntry.Action.CONNECTION_SHARE],
    Step.ADMINISTRATORS: [AuditEntry.Action.ROLE_LIST, AuditEntry.Action.USER_INVITE],
}


@dataclass
class FlowPage:
    """A flow, its tasks by step, and where it stands."""

    flow: Onboarding
    tasks: list[OnboardingTask]
    current: str = ""
    # Each step: its name, label, tasks, and the audit actions of its calls (for a link to them).
    steps: list[tuple[str, str, list[OnboardingTask], str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.current = onboarding.current_step(self.flow, self.tasks)
        self.steps = [
            (step, label, [task for task in self.tasks if task.step == step], self._audit_query(step))
            for step, label in Step.choices
            if step != Step.DONE
        ]

    def _audit_query(self, step: str) -> str:
        return urlencode({"flow": self.flow.correlation_id, "actions": STEP_ACTIONS[step]}, doseq=True)

    @property
    def current_number(self) -> int:
        return list(Step.values).index(self.current) + 1

    @property
    def failed(self) -> list[OnboardingTask]:
        return [task for task in self.tasks if task.step == self.current and task.state in onboarding.TO_SEND]

    @property
    def created(self) -> list[OnboardingTask]:
        return [task for task in self.tasks if task.state == OnboardingTask.State.DONE]


def flow_page(flow_id: int) -> FlowPage:
    flow = get_object_or_404(Onboarding.objects.select_related("started_by", "closed_by"), pk=flow_id)
    return FlowPage(flow, list(flow.tasks.all()))


def detail_context(page: FlowPage) -> dict:
    return {
        "page": page,
        "flow": page.flow,
        "activity": audit_rows(onboarding.flow_activity(correlation_id=page.flow.correlation_id, size=ACTIVITY_SHOWN)),
    }
