"""What an audit table shows of each entry: one `AuditRow` a call, computed once in Python, ready to
print (labels looked up, the time formatted, links built), and the outcome badges.

The rows are printed by the Jinja2 template `audit/jinja2/audit/_audit_rows.html` through
`{% table_rows %}` inside `templates/audit/_audit_entries.html` (docs/performance.md has the
figure that keeps Jinja2 here). The audit list, an organization's page and an onboarding's page
show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
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
    who_filter: str  # the audit page's query for the actor's entries; blank where there is no link
    action: str
    organization: str  # its name as recorded, else the newest the log holds, else its id; blank for none
    organization_filter: str  # the audit page's query for the organization's entries
    outcome: Outcome
    status: str
    duration_ms: int


def audit_rows(
    entries: Iterable[AuditEntry],
    *,
    names: Mapping[str, str] | None = None,
    organization_link: str = "?organization=",
    actor_link: str = "",
) -> list[AuditRow]:
    """The rows of `entries`. `names` are the organizations' names for the entries that record
    their id alone (`audit.queries.newest_names`). A row's organization links to
    `organization_link` followed by its id, and its actor, if `actor_link` is given, to it
    followed by the username (`AuditFilterForm.link`: the filters in force kept)."""
    names = names or {}
    # One reverse() for the whole table: every entry's address differs only in its id.
    head = reverse("orgadmin:audit-detail", args=[0]).removesuffix("0/")
    return [
        AuditRow(
            url=f"{head}{entry.id}/",
            # ISO 8601 to the second, as "%Y-%m-%d %H:%M:%S" prints it, in a fraction of strftime's time.
            when=entry.created_at.astimezone(UTC).isoformat(" ", "seconds")[:19],
            who=entry.actor_username or "—",
            who_filter=f"{actor_link}{_quoted(entry.actor_username, '')}"
            if actor_link and entry.actor_username
            else "",
            action=ACTIONS.get(entry.action, entry.action),
            organization=(
                (entry.organization_name or names.get(entry.organization_id) or entry.organization_id)
                if entry.organization_id
                else ""
            ),
            organization_filter=f"{organization_link}{_quoted(entry.organization_id, '/')}",
            outcome=Outcome.of(entry.outcome),
            status=str(entry.response_status) if entry.response_status else "—",
            duration_ms=entry.duration_ms,
        )
        for entry in entries
    ]


@lru_cache(maxsize=1024)
def _quoted(value: str, safe: str) -> str:
    """`value` quoted for a query string: a table names the same few actors and organizations
    row after row, and quoting them each time took about a third of building a row."""
    return quote(value, safe=safe)
