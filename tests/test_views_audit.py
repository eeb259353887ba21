"""The audit log pages: filters, keyset pages, the entry, the export; permissions and query counts."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import queries
from audit.models import AuditEntry
from audit.store import append

AUDIT = reverse("orgadmin:audit-list")
EXPORT = reverse("orgadmin:audit-export")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def add_entry(minute: int, **fields) -> AuditEntry:
    defaults = {
        "actor_username": "ed",
        "action": AuditEntry.Action.GET,
        "method": "GET",
        "path": "/api/organizations/x",
        "organization_id": "org-a",
        "organization_name": "Acme",
        "outcome": AuditEntry.Outcome.OK,
        "response_status": 200,
        "duration_ms": 7,
        "created_at": T0 + timedelta(minutes=minute),
    }
    entry = AuditEntry(**(defaults | fields))
    append(entry)
    return entry


def add_write(minute: float, *, outcome_after: float | None = None, **fields) -> tuple[AuditEntry, AuditEntry | None]:
    """A write as the client records it: its attempt, and its outcome `outcome_after` minutes later
    (none: the outcome is unknown)."""
    attempt = add_entry(
        minute,
        phase=AuditEntry.Phase.ATTEMPT,
        action=AuditEntry.Action.UPDATE,
        method="PUT",
        outcome=AuditEntry.Outcome.UNKNOWN,
        response_status=None,
        duration_ms=0,
        request_body={"name": "Acme", "client_secret": "[set]"},
        idempotency_key=f"key-{minute}",
        **fields,
    )
    if outcome_after is None:
        return attempt, None
    outcome = add_entry(
        minute + outcome_after,
        phase=AuditEntry.Phase.OUTCOME,
        attempt_id=attempt.id,
        action=AuditEntry.Action.UPDATE,
        method="PUT",
        idempotency_key=f"key-{minute}",
        **fields,
    )
    return attempt, outcome


def listed_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/audit/(\d+)/">', response.content.decode())]


@pytest.fixture
def as_admin(client, admin_user):
    client.force_login(admin_user)
    return client


class PermissionTests:
    @pytest.mark.parametrize("role", ["Viewer", "Editor"])
    def test_only_admins_see_the_log(self, client, db, role):
        from tests.factories import make_user

        client.force_login(make_user("someone", role=role))
        entry = add_entry(0)
        for url in (AUDIT, EXPORT, reverse("orgadmin:audit-detail", args=[entry.id])):
            assert client.get(url).status_code == 403, url

    def test_admins_do(self, as_admin):
        entry = add_entry(0)
        for url in (AUDIT, EXPORT, reverse("orgadmin:audit-detail", args=[entry.id])):
            assert as_admin.get(url).status_code == 200, url


@pytest.mark.django_db
class FilterTests:
    @pytest.fixture(autouse=True)
    def entries(self):
        self.a = add_entry(0)
        self.b = add_entry(1, actor_username="ada", action=AuditEntry.Action.UPDATE, method="PUT")
        self.c = add_entry(2, organization_id="org-b", organization_name="Globex", outcome="rejected")
        self.d = add_entry(60 * 24 * 3, outcome="failed", response_status=None, request_id="req-42")

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({}, "dcba"),
            ({"organization": "org-b"}, "c"),
            ({"actor": "ada"}, "b"),
            ({"action": "organization.update"}, "b"),
            ({"outcome": "rejected"}, "c"),
            ({"since": "2026-05-02"}, "d"),
            ({"until": "2026-05-01"}, "cba"),
            ({"request": "req-42"}, "d"),
            ({"organization": "org-a", "outcome": "ok", "until": "2026-05-03"}, "ba"),
        ],
    )
    def test_filters_combine(self, as_admin, query, expected):
        ids = {"a": self.a.id, "b": self.b.id, "c": self.c.id, "d": self.d.id}
        assert listed_ids(as_admin.get(AUDIT, query)) == [ids[letter] for letter in expected]

    def test_an_invalid_range_says_so(self, as_admin):
        response = as_admin.get(AUDIT, {"since": "2026-05-05", "until": "2026-05-01"})
        assert "The end of the range is before its start." in response.content.decode()
        assert len(listed_ids(response)) == 4

    @pytest.mark.parametrize("url", [AUDIT, EXPORT])
    def test_the_last_day_there_is_leaves_the_range_open(self, as_admin, url):
        entry = add_entry(0)
        response = as_admin.get(url, {"since": "0001-01-01", "until": "9999-12-31"})
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert (f"/audit/{entry.id}/" if url == AUDIT else entry.entry_hash) in body.decode()

    def test_several_actions_are_kept_as_hidden_inputs_with_no_label_of_their_own(self, as_admin):
        query = {"actions": ["organization.update", "organization.get"]}
        page = as_admin.get(AUDIT, query).content.decode()
        assert listed_ids(as_admin.get(AUDIT, query)) == [self.d.id, self.c.id, self.b.id, self.a.id]
        for action in query["actions"]:
            assert f'<input type="hidden" name="actions" value="{action}"' in page
        assert 'for="id_actions"' not in page  # a label for no visible control

    def test_htmx_answers_only_the_results(self, as_admin):
        page = as_admin.get(AUDIT, {"actor": "ada"}, HTTP_HX_REQUEST="true").content.decode()
        assert page.startswith('<section id="audit-results"')

    def test_filters_stay_in_the_paging_links(self, as_admin, monkeypatch):
        monkeypatch.setattr(queries, "AUDIT_PAGE_SIZE", 1)
        page = as_admin.get(AUDIT, {"organization": "org-a"}).content.decode()
        assert re.search(r'href="\?organization=org-a&amp;before=\d+-\d+">Older', page)


@pytest.mark.django_db
class KeysetPaginationTests:
    def page(self, **cursor) -> queries.AuditPage:
        return queries.audit_page(queries.audit_rows(), size=3, **cursor)

    def test_pages_walk_older_and_back_newer_across_equal_times(self):
        # Seven entries, three of them at the same instant, so the id breaks the tie at a boundary.
        entries = [add_entry(minute) for minute in (0, 1, 2, 2, 2, 3, 4)]
        newest_first = [e.id for e in reversed(entries)]

        first = self.page()
        assert [e.id for e in first.entries] == newest_first[0:3]
        assert first.newer is None
        second = self.page(before=first.older)
        assert [e.id for e in second.entries] == newest_first[3:6]
        third = self.page(before=second.older)
        assert [e.id for e in third.entries] == newest_first[6:]
        assert third.older is None
        assert [e.id for e in self.page(after=third.newer).entries] == newest_first[3:6]
        back_to_first = self.page(after=second.newer)
        assert [e.id for e in back_to_first.entries] == newest_first[0:3]
        assert back_to_first.newer is None

    @pytest.mark.parametrize("size", [1, 2, 3, 5])
    def test_pages_walk_reads_writes_and_unresolved_attempts_in_order(self, size):
        """One row per call, newest first: a read, a write's outcome (not its attempt), and the
        attempt of a write with no outcome, wherever they fall against the page boundaries."""
        shown = [add_entry(0).id]
        shown.append(add_write(0.5)[0].id)  # unresolved
        shown.append(add_write(1, outcome_after=3)[1].id)  # finished long after later calls began
        shown.append(add_entry(2).id)
        shown.append(add_write(2)[0].id)  # unresolved, at the same instant as the read
        shown += [add_entry(minute).id for minute in (5, 6, 7)]
        shown.append(add_write(9)[0].id)
        shown.append(add_write(9.5, outcome_after=0.1)[1].id)
        created = {entry.id: entry for entry in AuditEntry.objects.all()}
        expected = sorted(shown, key=lambda i: (created[i].created_at, i), reverse=True)

        pages = [queries.audit_page(queries.audit_rows(), size=size)]
        while pages[-1].older is not None:
            pages.append(queries.audit_page(queries.audit_rows(), size=size, before=pages[-1].older))
        assert [e.id for page in pages for e in page.entries] == expected
        assert all(len(page.entries) == size for page in pages[:-1])
        back = [queries.audit_page(queries.audit_rows(), size=size, after=pages[-1].newer)] if len(pages) > 1 else []
        while back and back[-1].newer is not None:
            back.append(queries.audit_page(queries.audit_rows(), size=size, after=back[-1].newer))
        assert [[e.id for e in page.entries] for page in reversed(back)] == [
            [e.id for e in page.entries] for page in pages[:-1]
        ]

    def test_the_outcome_filter_unknown_lists_the_unresolved_attempts_only(self, as_admin):
        add_entry(0)
        finished, _ = add_write(1, outcome_after=1)
        unresolved, _ = add_write(3)
        assert listed_ids(as_admin.get(AUDIT, {"outcome": "unknown"})) == [unresolved.id]
        assert unresolved.id not in listed_ids(as_admin.get(AUDIT, {"outcome": "ok"}))
        page = as_admin.get(AUDIT).content.decode()
        assert finished.id not in listed_ids(as_admin.get(AUDIT))  # its outcome stands for it
        assert 'title="Sent to Polytomic; no outcome recorded">Unknown<' in page

    def test_an_exact_page_has_no_older_link(self):
        for minute in range(3):
            add_entry(minute)
        assert self.page().older is None

    @pytest.mark.parametrize(
        "value",
        ["", "x", "12-", "-4", "1-2-3", "9" * 30 + "-1", "999999999999999999-1", "1-" + "9" * 19, "²-1", "1-²"],
    )
    def test_a_malformed_cursor_is_the_first_page(self, value):
        assert queries.AuditCursor.parse(value) is None

    @pytest.mark.parametrize("parameter", ["before", "after"])
    @pytest.mark.parametrize("value", ["999999999999999999-1", "1-9223372036854775808"])
    def test_a_cursor_out_of_range_answers_the_first_page(self, as_admin, parameter, value):
        add_entry(0)
        response = as_admin.get(AUDIT, {parameter: value})
        assert response.status_code == 200
        assert len(listed_ids(response)) == 1

    def test_the_last_moment_there_is_is_a_cursor_like_any(self, as_admin):
        entry = add_entry(0)
        last = "253402300799999999-1"  # 9999-12-31 23:59:59.999999
        assert listed_ids(as_admin.get(AUDIT, {"before": last})) == [entry.id]
        assert listed_ids(as_admin.get(AUDIT, {"after": last})) == []

    def test_cursor_round_trip(self):
        entry = add_entry(5)
        cursor = queries.AuditCursor.of(entry)
        assert queries.AuditCursor.parse(str(cursor)) == cursor


@pytest.mark.django_db
class QueryTests:
    @pytest.mark.parametrize(
        "query",
        [{}, {"organization": "org-a"}, {"actor": "ed"}, {"action": "organization.get"}, {"outcome": "ok"}],
    )
    def test_the_page_costs_the_same_few_queries_however_long_the_log(
        self, as_admin, django_assert_num_queries, django_assert_max_num_queries, query
    ):
        for minute in range(5):
            add_entry(minute)
        as_admin.get(AUDIT, query)  # warm the session
        add_write(4.5)
        # The session, the user, their permissions, one page of entries, and the unresolved
        # attempts within the page's stretch of time (not looked for when filtering by outcome).
        with django_assert_max_num_queries(5) as small:
            as_admin.get(AUDIT, query)
        for minute in range(5, 130):
            add_entry(minute)
            add_write(minute + 0.5, outcome_after=0.1)
        with django_assert_num_queries(len(small.captured_queries)):
            as_admin.get(AUDIT, query)

    @pytest.mark.parametrize(
        ("filters", "index"),
        [
            ({}, "audit_time"),
            # Either index led by the organization serves it (the planner may take the one with the phase).
            ({"organization_id": "org-a"}, ("audit_org_time", "audit_org_phase_time")),
            ({"actor": "ed"}, "audit_actor_name_time"),
            ({"action": "organization.get"}, "audit_action_time"),
            ({"outcome": "ok"}, "audit_outcome_time"),
            ({"correlation_id": uuid.UUID(int=7)}, "audit_correlation_time"),
            ({"change_request_id": 7}, "audit_change_time"),
        ],
    )
    def test_each_filter_uses_an_index(self, filters, index):
        queryset = queries.audit_rows(**filters).recorded.order_by("-created_at", "-id")[:51]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":  # on a tiny table the planner would rightly scan
                cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert any(name in plan for name in ((index,) if isinstance(index, str) else index)), plan


@pytest.mark.django_db
class UnresolvedQueryTests:
    def test_the_unresolved_attempts_are_found_by_index(self):
        queryset = queries.audit_rows().unresolved.order_by("-created_at", "-id")[:51]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert "audit_phase_time" in plan, plan
        assert "audit_attempt" in plan, plan  # whether an outcome names the attempt

    def test_the_unresolved_attempts_of_a_page_are_looked_for_only_in_its_stretch_of_time(self):
        """The index scan stops at the page's oldest row: a log of a million entries holds a
        quarter million attempts, nearly all resolved, which the page must not walk."""
        for minute in range(60):
            add_entry(minute)
            add_write(minute + 0.5, outcome_after=0.1)
        with CaptureQueriesContext(connection) as page:
            queries.audit_page(queries.audit_rows())
        [unresolved] = [q["sql"] for q in page.captured_queries if "EXISTS" in q["sql"]]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {unresolved}")
                assert re.search(r"Index Cond: .*created_at >=", "\n".join(row[0] for row in cursor.fetchall()))
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {unresolved}")
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
                assert "USING INDEX audit_phase_time (phase=? AND created_at>?)" in plan, plan


@pytest.mark.django_db
class ExportTests:
    def test_the_export_streams_the_filtered_log(self, as_admin):
        add_entry(0)
        add_entry(1, organization_name='=HYPERLINK("http://evil")', organization_id="org-x")
        add_entry(2, organization_id="org-x", organization_name="Plain")
        response = as_admin.get(EXPORT, {"organization": "org-x"})
        assert isinstance(response, StreamingHttpResponse)
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="audit-')
        header, *rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
        assert header[:4] == ["id", "created_at", "actor_username", "action"]
        name = header.index("organization_name")
        assert [row[name] for row in rows] == ["Plain", '\'=HYPERLINK("http://evil")']

    def test_the_export_has_one_row_per_call_and_the_unresolved_attempts(self, as_admin):
        read = add_entry(0)
        _, finished = add_write(1, outcome_after=2)
        unresolved, _ = add_write(2)
        header, *rows = csv.reader(io.StringIO(b"".join(as_admin.get(EXPORT).streaming_content).decode()))
        columns = [header.index(name) for name in ("id", "phase", "outcome", "attempt_id")]
        assert [[row[i] for i in columns] for row in rows] == [
            [str(finished.id), "outcome", "ok", str(finished.attempt_id)],
            [str(unresolved.id), "attempt", "unknown", ""],
            [str(read.id), "call", "ok", ""],
        ]

    def test_the_export_reads_the_log_only_as_it_streams(self, as_admin, django_assert_num_queries):
        for minute in range(30):
            add_entry(minute)
        with CaptureQueriesContext(connection) as answering:
            response = as_admin.get(EXPORT)
        assert not [q for q in answering.captured_queries if "orgadmin_auditentry" in q["sql"]]
        # Two queries, read in chunks as rows are sent: the recorded calls, the unresolved attempts.
        with django_assert_num_queries(2) as streaming:
            lines = b"".join(response.streaming_content).decode().splitlines()
        assert all("orgadmin_auditentry" in query["sql"] for query in streaming.captured_queries)
        assert len(lines) == 31


@pytest.mark.django_db
class DetailTests:
    def test_the_whole_entry_with_pretty_bodies_and_links(self, as_admin):
        entry = add_entry(
            0,
            request_body={"name": "Acme", "client_secret": "[set]"},
            response_body='{"data":{"id":"7a1f0c2e-0000-4000-8000-000000000002","name":"Acme"}}',
            organization_id="7a1f0c2e-0000-4000-8000-000000000002",
            request_id="req-77",
            idempotency_key="form-key-1",
            attempts=2,
        )
        page = as_admin.get(reverse("orgadmin:audit-detail", args=[entry.id])).content.decode()
        assert "&quot;client_secret&quot;: &quot;[set]&quot;" in page
        assert "{\n  &quot;data&quot;: {\n    &quot;id&quot;" in page
        assert 'href="/organizations/7a1f0c2e-0000-4000-8000-000000000002/"' in page
        assert 'href="/audit/?request=req-77"' in page
        assert "2 attempts" in page
        assert "form-key-1" in page
        assert entry.entry_hash in page

    def test_an_outcome_shows_what_its_attempt_sent_and_links_to_it(self, as_admin):
        attempt, outcome = add_write(0, outcome_after=1)
        page = as_admin.get(reverse("orgadmin:audit-detail", args=[outcome.id])).content.decode()
        assert "&quot;client_secret&quot;: &quot;[set]&quot;" in page
        assert "(as recorded by the attempt)" in page
        assert f'<a href="/audit/{attempt.id}/">Its attempt</a>' in page
        page = as_admin.get(reverse("orgadmin:audit-detail", args=[attempt.id])).content.decode()
        assert f'<a href="/audit/{outcome.id}/">Its outcome</a>' in page
        assert "Outcome unknown" not in page

    def test_an_unresolved_attempt_says_its_outcome_is_unknown(self, as_admin, django_assert_max_num_queries):
        attempt, _ = add_write(0)
        as_admin.get(reverse("orgadmin:audit-detail", args=[attempt.id]))
        # The session, the user, their permissions, the entry, its outcome (none).
        with django_assert_max_num_queries(5):
            page = as_admin.get(reverse("orgadmin:audit-detail", args=[attempt.id])).content.decode()
        assert "Outcome unknown: no outcome is recorded for this write." in page
        assert "&quot;name&quot;: &quot;Acme&quot;" in page

    def test_a_body_that_is_not_json_is_shown_as_stored(self, as_admin):
        entry = add_entry(0, response_body="<html>Bad gateway</html>")
        page = as_admin.get(reverse("orgadmin:audit-detail", args=[entry.id])).content.decode()
        assert "&lt;html&gt;Bad gateway&lt;/html&gt;" in page

    def test_an_unknown_entry_is_404(self, as_admin):
        assert as_admin.get(reverse("orgadmin:audit-detail", args=[999999])).status_code == 404
