"""What the pages' tables show, computed once a row in Python, and printed by Jinja2.

A table's cells are plain values, ready to print: labels looked up, times formatted, links built.
Django's template engine costs several microseconds for each variable, filter, `{% url %}` and
`{% include %}` it meets, and a table multiplies them by its rows; Jinja2 prints the same rows for
a fraction of that (docs/performance.md has the figures). So the rows alone are Jinja2 templates
(`orgadmin/jinja2/orgadmin/_*_rows.html`), printed by `{% table_rows %}` inside the Django
templates that hold the rest of each table; they have no logic but the choice of a badge. Jinja2
escapes every value as Django does (the markup scan, tests/test_markup.py, covers them).
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
    head = _head(reverse("orgadmin:audit-detail", args=[0]), "0/")
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


def _head(address: str, tail: str) -> str:
    """`address` without its last segment `tail`: what every row's address starts with."""
    if not address.endswith(tail):
        raise ValueError(f"{address} does not end with {tail}")
    return address[: -len(tail)]
