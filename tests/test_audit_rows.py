"""The audit tables' rows: what each cell shows and where each link goes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.test import SimpleTestCase, override_settings
from django.urls import resolve

from audit.models import AuditEntry
from audit.rows import audit_rows

ORG_ID = "7a1f0c2e-0000-4000-8000-000000000002"


def entry(**fields) -> AuditEntry:
    values = {
        "id": 4021,
        "created_at": datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC),
        "actor_username": "ed",
        "action": AuditEntry.Action.UPDATE,
        "organization_id": ORG_ID,
        "organization_name": "Acme & Co",
        "outcome": AuditEntry.Outcome.OK,
        "response_status": 200,
        "duration_ms": 52,
    }
    return AuditEntry(**{**values, **fields})


class AuditRowTests(SimpleTestCase):
    def test_a_row_shows_each_cell_ready_to_print(self):
        (row,) = audit_rows([entry()])
        assert row.when == "2026-03-04 05:06:07"
        assert (row.who, row.action, row.organization) == ("ed", "Update organization", "Acme & Co")
        assert (row.status, row.duration_ms) == ("200", 52)
        assert (row.outcome.label, row.outcome.badge, row.outcome.title) == ("OK", "badge--ok", "")

    def test_each_row_links_to_its_own_entry(self):
        rows = audit_rows([entry(id=7), entry(id=123456789)])
        for row, entry_id in zip(rows, (7, 123456789), strict=True):
            match = resolve(row.url)
            assert (match.view_name, match.kwargs) == ("orgadmin:audit-detail", {"entry_id": entry_id})

    @override_settings(TIME_ZONE="America/New_York")
    def test_the_time_is_in_utc_as_the_column_says_whatever_the_portal_time_zone(self):
        (row,) = audit_rows([entry()])
        assert row.when == "2026-03-04 05:06:07"

    def test_the_time_is_in_utc_to_the_second_whatever_its_zone_and_fraction(self):
        rows = audit_rows(
            [
                entry(created_at=datetime(2026, 3, 4, 0, 6, 7, tzinfo=ZoneInfo("America/New_York"))),
                entry(created_at=datetime(2026, 3, 4, 5, 6, 7, 999999, tzinfo=UTC)),
                entry(created_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
            ]
        )
        assert [row.when for row in rows] == ["2026-03-04 05:06:07", "2026-03-04 05:06:07", "9999-12-31 23:59:59"]

    def test_each_row_links_to_its_own_actor_and_organization_quoted(self):
        same = {"actor_username": "a&b", "organization_id": "x y"}
        rows = audit_rows(
            [entry(**same), entry(actor_username="c d", organization_id="z/1"), entry(**same)], actor_link="?actor="
        )
        assert [(row.who_filter, row.organization_filter) for row in rows] == [
            ("?actor=a%26b", "?organization=x%20y"),
            ("?actor=c%20d", "?organization=z/1"),
            ("?actor=a%26b", "?organization=x%20y"),
        ]

    def test_an_unknown_outcome_says_what_it_means_and_others_have_their_badges(self):
        badges = {
            outcome: audit_rows([entry(outcome=outcome)])[0].outcome
            for outcome in ("ok", "rejected", "failed", "unknown")
        }
        assert {outcome: shown.badge for outcome, shown in badges.items()} == {
            "ok": "badge--ok",
            "rejected": "badge--warning",
            "failed": "badge--danger",
            "unknown": "badge--muted",
        }
        assert badges["unknown"].title == "Sent to Polytomic; no outcome recorded"
        assert badges["unknown"].label == "Unknown"

    def test_blank_cells_show_a_dash_and_a_call_about_no_organization_has_no_link(self):
        (row,) = audit_rows(
            [entry(actor_username="", response_status=None, organization_id="", organization_name="Named only")]
        )
        assert (row.who, row.status, row.organization) == ("—", "—", "")

    def test_the_organization_filter_is_quoted_and_falls_back_to_the_id(self):
        (row,) = audit_rows([entry(organization_id="a b&c", organization_name="")])
        assert (row.organization, row.organization_filter) == ("a b&c", "?organization=a%20b%26c")
