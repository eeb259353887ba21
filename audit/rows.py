"""What an audit table shows of each entry: one `AuditRow` a call, computed once in Python, ready to
print (labels looked up, the time formatted, links built), and the outcome badges.

The rows are printed by the Jinja2 template `audit/jinja2/audit/_audit_rows.html` through
`{% table_rows %}` inside `templates/audit/_audit_entries.html` (docs/performance.md has the
figure that keeps Jinja2 here). The audit list, an organization's page and an onboarding's page
show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote

from django.urls import reverse

from audit.models import AuditEntry

ACTIONS = dict(AuditEntry.Action.choices)
OUTCOMES = dict(AuditEntry.Outcome.choices)
# The badge of each outcome. "Unknown" is a write whose outcome is not recorded: in flight, or cut short.
OUTCOME_BADGES = {
    AuditEntry.Outcome.OK: "badge--ok",
    AuditEntry.Outcome.REJECTED: "badge--warning",
    AuditEntry.Outcome.UNKNOWN: "badge--muted",
    AuditEntry.Outcome.FAILED: "badge--danger",
}
UNKNOWN_TITLE = "Sent to Polytomic; no outcome recorded"


@dataclass(frozen=True, slots=True)
class Outcome:
    """An entry's outcome as its badge shows it."""

    label: str
    badge: str
    title: str

    @classmethod
    def of(cls, outcome: str) -> Outcome:
        return _OUTCOMES.get(outcome) or cls(label=outcome, badge="badge--danger", title="")


_OUTCOMES = {
    value: Outcome(OUTCOMES[value], badge, UNKNOWN_TITLE if value == AuditEntry.Outcome.UNKNOWN else "")
    for value, badge in OUTCOME_BADGES.items()
}


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One call in an audit table."""

    url: str  # the entry's own page
    when: str  # UTC, to the second
    who: str
    action: str
    organization: str  # its name as recorded, or its id; blank for a call about no organization
    organization_filter: str  # the audit page's query for the organization's entries
    outcome: Outcome
    status: str
    duration_ms: int


def audit_rows(entries: Iterable[AuditEntry]) -> list[AuditRow]:
    # One reverse() for the whole table: every entry's address differs only in its id.
    head = reverse("orgadmin:audit-detail", args=[0]).removesuffix("0/")
    return [
        AuditRow(
            url=f"{head}{entry.id}/",
            when=entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            who=entry.actor_username or "—",
            action=ACTIONS.get(entry.action, entry.action),
            organization=(entry.organization_name or entry.organization_id) if entry.organization_id else "",
            organization_filter=f"?organization={quote(entry.organization_id, safe='/')}",
            outcome=Outcome.of(entry.outcome),
            status=str(entry.response_status) if entry.response_status else "—",
            duration_ms=entry.duration_ms,
        )
        for entry in entries
    ]
