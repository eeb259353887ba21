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
from audit.models import READ_ACTIONS, AuditEntry
from audit.store import append

AUDIT = reverse("orgadmin:audit-list")
EXPORT = reverse("orgadmin:audit-export")
NAMES = reverse("orgadmin:audit-organization-names")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
READS = {"reads": "on"}  # the reads too: the page shows the changes alone unless asked


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
        assert listed_ids(as_admin.get(AUDIT, {**query, **READS})) == [ids[letter] for letter in expected]

    def test_an_invalid_range_says_so(self, as_admin):
        response = as_admin.get(AUDIT, {"since": "2026-05-05", "until": "2026-05-01"})
        assert "The end of the range is before its start." in response.content.decode()
        assert len(listed_ids(response)) == 4

    def test_an_unknown_action_in_a_link_says_which_field_is_wrong(self, as_admin):
        """The actions a link carries have no visible field: their error is said in the callout."""
        response = as_admin.get(AUDIT, {"actions": ["organization.update", "no.such.action"]})
        page = response.content.decode()
        assert "Check the filters" in page
        assert "The link's actions, which no field shows: Select a valid choice. no.such.action is not one" in page
        assert len(listed_ids(response)) == 4  # unfiltered, as the callout says

    @pytest.mark.parametrize("url", [AUDIT, EXPORT])
    def test_the_last_day_there_is_leaves_the_range_open(self, as_admin, url):
        entry = add_entry(0)
        response = as_admin.get(url, {"since": "0001-01-01", "until": "9999-12-31", **READS})
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert (f"/audit/{entry.id}/" if url == AUDIT else entry.entry_hash) in body.decode()

    def test_several_actions_are_kept_as_hidden_inputs_with_no_label_of_their_own(self, as_admin):
        query = {"actions": ["organization.update", "organization.get"], **READS}
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
        page = as_admin.get(AUDIT, {"organization": "org-a", **READS}).content.decode()
        assert re.search(r'href="\?organization=org-a&amp;reads=on&amp;before=\d+-\d+">Older', page)


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
        response = as_admin.get(AUDIT, {parameter: value, **READS})
        assert response.status_code == 200
        assert len(listed_ids(response)) == 1

    def test_the_last_moment_there_is_is_a_cursor_like_any(self, as_admin):
        entry = add_entry(0)
        last = "253402300799999999-1"  # 9999-12-31 23:59:59.999999
        assert listed_ids(as_admin.get(AUDIT, {"before": last, **READS})) == [entry.id]
        assert listed_ids(as_admin.get(AUDIT, {"after": last, **READS})) == []

    def test_cursor_round_trip(self):
        entry = add_entry(5)
        cursor = queries.AuditCursor.of(entry)
        assert queries.AuditCursor.parse(str(cursor)) == cursor


@pytest.mark.django_db
class QueryTests:
    @pytest.mark.parametrize(
        ("query", "count"),
        [
            ({}, 4),
            (READS, 4),
            ({"organization": "org-a", **READS}, 4),
            ({"actor": "ed"}, 4),
            ({"action": "organization.get", **READS}, 4),
            ({"outcome": "ok"}, 4),
            ({"outcome": "unknown"}, 4),
            # The names the log holds are walked for the filter, and serve as its suggestions too;
            # then the ids of the organizations they name.
            ({"organization_name": "acm"}, 6),
            ({"organization_name": "acm", **READS}, 6),
            # Nothing matched: no entries read; the suggestions are every name.
            ({"organization_name": "globx"}, 5),
        ],
    )
    def test_the_page_costs_the_same_few_queries_however_long_the_log(
        self, as_admin, django_assert_num_queries, query, count
    ):
        for minute in range(5):
            add_entry(minute)
        as_admin.get(AUDIT, query)  # warm the session
        add_write(4.5)
        # The session, the user, their permissions, and one page of rows, the unresolved attempts
        # among them. Every entry names its organization.
        with django_assert_num_queries(count) as small:
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
        queryset = queries.audit_rows(**filters).entries.order_by("-created_at", "-id")[:51]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":  # on a tiny table the planner would rightly scan
                cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert any(name in plan for name in ((index,) if isinstance(index, str) else index)), plan


@pytest.mark.django_db
class UnresolvedQueryTests:
    def test_an_attempt_is_checked_for_an_outcome_by_index_as_the_page_walks_the_log(self):
        """The unresolved attempts are found among the rows the page's time index walks, each
        attempt by one probe of `audit_attempt`: a log of a million entries holds a quarter
        million attempts, nearly all resolved, which the page must not read beyond its own. On
        PostgreSQL, not by hashing every attempt id the log holds, as its planner would for a
        condition of equality alone (audit.queries, `_naming_the_attempt`)."""
        for minute in range(60):
            add_entry(minute)
            add_write(minute + 0.5, outcome_after=0.1)
        with CaptureQueriesContext(connection) as page:
            queries.audit_page(queries.audit_rows())
        [rows] = [q["sql"] for q in page.captured_queries if "orgadmin_auditentry" in q["sql"]]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {rows}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "Index Scan Backward using audit_time" in plan, plan
                assert "Index Cond: (attempt_id = orgadmin_auditentry.id)" in plan, plan
                assert "hashed" not in plan, plan
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {rows}")
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
                assert "SCAN orgadmin_auditentry USING INDEX audit_time" in plan, plan
                assert "USING COVERING INDEX audit_attempt (attempt_id=? AND rowid>?)" in plan, plan
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.django_db
class ExportTests:
    def test_the_export_streams_the_filtered_log(self, as_admin):
        add_entry(0)
        add_entry(1, organization_name='=HYPERLINK("http://evil")', organization_id="org-x")
        add_entry(2, organization_id="org-x", organization_name="Plain")
        response = as_admin.get(EXPORT, {"organization": "org-x", **READS})
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
        header, *rows = csv.reader(io.StringIO(b"".join(as_admin.get(EXPORT, READS).streaming_content).decode()))
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
            response = as_admin.get(EXPORT, READS)
        assert not [q for q in answering.captured_queries if "orgadmin_auditentry" in q["sql"]]
        # One query, read in chunks as rows are sent: the calls, the unresolved attempts among them.
        with django_assert_num_queries(1) as streaming:
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
        assert 'href="/audit/?request=req-77&amp;reads=on"' in page  # all its entries, its reads too
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


def table(response) -> str:
    return response.content.decode().split("<tbody>")[1].split("</tbody>")[0]


@pytest.mark.django_db
class ChangesOnlyTests:
    """The default view: the changes; the reads behind "Include reads"."""

    @pytest.fixture(autouse=True)
    def entries(self):
        self.read = add_entry(0)
        self.listing = add_entry(1, action=AuditEntry.Action.USER_LIST, organization_name="")
        _, self.update = add_write(2, outcome_after=0.1)
        self.lost, _ = add_write(3)  # its outcome lost, then found out by a read:
        self.resolve = add_entry(4, action=AuditEntry.Action.RESOLVE, attempt_id=self.lost.id, method="GET")
        self.step = add_entry(5, action=AuditEntry.Action.CHANGE_REQUEST, method="", change_request_id=7)
        self.ended = add_entry(6, action=AuditEntry.Action.STAFF_END_SESSIONS, method="", organization_id="")
        self.invite = add_entry(7, action=AuditEntry.Action.USER_INVITE, method="POST", organization_name="")

    def test_the_page_shows_the_changes_by_default(self, as_admin):
        changes = [self.invite, self.ended, self.step, self.resolve, self.update]
        response = as_admin.get(AUDIT)
        assert listed_ids(response) == [entry.id for entry in changes]
        assert "Changes only" in response.content.decode()
        assert '<input type="checkbox" name="reads" id="id_reads">' in response.content.decode()

    def test_include_reads_shows_every_call(self, as_admin):
        everything = [self.invite, self.ended, self.step, self.resolve, self.update, self.listing, self.read]
        response = as_admin.get(AUDIT, READS)
        assert listed_ids(response) == [entry.id for entry in everything]
        assert '<input type="checkbox" name="reads" id="id_reads" checked>' in response.content.decode()

    def test_the_unresolved_attempt_of_a_write_is_a_change(self, as_admin):
        unresolved, _ = add_write(8)
        assert listed_ids(as_admin.get(AUDIT))[0] == unresolved.id
        assert listed_ids(as_admin.get(AUDIT, {"outcome": "unknown"})) == [unresolved.id]

    @pytest.mark.parametrize("query", [{"action": "organization.get"}, {"actions": ["organization.get", "user.list"]}])
    def test_an_action_asked_for_by_name_is_shown_a_read_too(self, as_admin, query):
        response = as_admin.get(AUDIT, query)
        assert set(listed_ids(response)) == {self.read.id} | ({self.listing.id} if "actions" in query else set())
        assert "Changes only" not in response.content.decode()

    def test_the_link_to_include_reads_keeps_the_filters(self, as_admin):
        page = as_admin.get(AUDIT, {"actor": "ed", "outcome": "ok"}).content.decode()
        assert '<a href="?actor=ed&amp;outcome=ok&amp;reads=on">Include reads</a>' in page

    def test_the_export_is_of_the_entries_the_page_shows(self, as_admin):
        lines = b"".join(as_admin.get(EXPORT).streaming_content).decode().splitlines()
        assert len(lines) == 1 + 5
        assert len(b"".join(as_admin.get(EXPORT, READS).streaming_content).decode().splitlines()) == 1 + 7

    def test_the_reads_are_actions_and_the_rest_are_changes(self):
        assert set(READ_ACTIONS) < set(AuditEntry.Action.values)
        assert AuditEntry.Action.RESOLVE not in READ_ACTIONS
        reading = {"list", "get", "shared", "check", "checkpoint"}
        assert not [action for action in READ_ACTIONS if action.split(".")[1] not in reading]

    def test_the_changes_are_read_by_time_from_an_index(self):
        """PostgreSQL reads them from their own index, which holds no reads; SQLite, which proves a
        partial index's condition only from literal values (https://sqlite.org/partialindex.html),
        walks the time index past the reads."""
        queryset = queries.audit_rows(include_reads=False).entries.order_by(*queries.NEWEST_FIRST)[:51]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        assert ("audit_changes_time" if connection.vendor == "postgresql" else "USING INDEX audit_time") in plan, plan


@pytest.mark.django_db
class OrganizationNameTests:
    """The filter by an organization's name, and the names in the Organization column."""

    @pytest.fixture(autouse=True)
    def entries(self):
        self.acme = add_write(0, outcome_after=0.1)[1]
        self.globex_get = add_entry(1, organization_id="org-g", organization_name="Globex")
        self.globex_update = add_write(2, outcome_after=0.1, organization_id="org-g", organization_name="Globex")[1]
        # A user's and a role's entries name the organization by its id alone.
        by_id = {"organization_id": "org-g", "organization_name": ""}
        self.globex_invite = add_entry(3, action=AuditEntry.Action.USER_INVITE, **by_id)
        self.globex_key = add_entry(4, action=AuditEntry.Action.USER_KEY, **by_id)
        self.other = add_write(5, outcome_after=0.1, organization_id="org-n", organization_name="Globexia Ltd")[1]

    @pytest.mark.parametrize("typed", ["Globex", "globex", "GLOB", "lobe", " globex "])
    def test_a_name_or_part_of_it_finds_the_organizations_entries_whatever_its_case(self, as_admin, typed):
        expected = [self.other, self.globex_key, self.globex_invite, self.globex_update]
        assert listed_ids(as_admin.get(AUDIT, {"organization_name": typed})) == [entry.id for entry in expected]

    def test_a_full_name_and_the_reads(self, as_admin):
        response = as_admin.get(AUDIT, {"organization_name": "Globexia", **READS})
        assert listed_ids(response) == [self.other.id]
        response = as_admin.get(AUDIT, {"organization_name": "globex", "organization": "org-g", **READS})
        globex = (self.globex_key, self.globex_invite, self.globex_update, self.globex_get)
        assert listed_ids(response) == [entry.id for entry in globex]

    def test_a_name_that_matches_nothing_says_so_with_a_hint(self, as_admin):
        page = as_admin.get(AUDIT, {"organization_name": "Globx"}).content.decode()
        assert listed_ids(as_admin.get(AUDIT, {"organization_name": "Globx"})) == []
        assert "No organization in the log has a name containing “Globx”" in page
        assert "try part of the name" in page
        # ... and the suggestions are every name the log holds.
        assert '<option value="Acme"><option value="Globex"><option value="Globexia Ltd"></datalist>' in page

    def test_the_names_matched_are_the_suggestions_printed_with_the_page(self, as_admin):
        """Without JavaScript: a name searched suggests the names it matched."""
        page = as_admin.get(AUDIT).content.decode()
        assert 'list="organization-names"' in page
        assert '<datalist id="organization-names"></datalist>' in page  # until the field asks
        narrowed = as_admin.get(AUDIT, {"organization_name": "glo"}).content.decode()
        assert re.search(r'<datalist id="organization-names">(.*?)</datalist>', narrowed)[1] == (
            '<option value="Globex"><option value="Globexia Ltd">'
        )

    def test_the_field_asks_for_the_names_containing_what_is_typed(self, as_admin, django_assert_num_queries):
        page = as_admin.get(AUDIT).content.decode()
        field = re.search(r'<input type="text" name="organization_name"[^>]*>', page)[0]
        assert f'hx-get="{NAMES}"' in field
        assert 'hx-target="#organization-names"' in field
        as_admin.get(NAMES)
        # The session, the user, their permissions, the walk of the names.
        with django_assert_num_queries(4):
            everything = as_admin.get(NAMES, HTTP_HX_REQUEST="true")
        assert everything.content.decode() == (
            '<option value="Acme"><option value="Globex"><option value="Globexia Ltd">'
        )
        assert as_admin.get(NAMES, {"organization_name": "LOBEXI"}).content.decode() == (
            '<option value="Globexia Ltd">'
        )
        assert as_admin.get(NAMES, {"organization_name": "x" * 300}).content.decode() == everything.content.decode()

    def test_only_those_who_may_see_the_log_see_its_names(self, client):
        from tests.factories import make_user

        client.force_login(make_user("someone", role="Editor"))
        assert client.get(NAMES).status_code == 403

    def test_a_suggested_name_is_escaped(self, as_admin):
        add_entry(9, organization_id="org-x", organization_name='Evil"><script>x</script>')
        page = as_admin.get(NAMES).content.decode()
        assert '<option value="Evil&#34;&gt;&lt;script&gt;x&lt;/script&gt;">' in page
        assert "<script>x" not in page

    def test_the_names_are_walked_by_index(self):
        with CaptureQueriesContext(connection) as walked:
            assert queries.organization_names(containing="glo") == ["Globex", "Globexia Ltd"]
        [sql] = [query["sql"] for query in walked.captured_queries]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
        assert "audit_org_name" in plan, plan

    def test_user_actions_show_the_organizations_newest_name(self, as_admin):
        add_entry(2.5, organization_id="org-g", organization_name="Globex Corporation")  # renamed since
        page = table(as_admin.get(AUDIT))
        rows = re.findall(r'<td><a href="/audit/(\d+)/">.*?</tr>', page, re.S)
        assert len(rows) == 5
        for entry in (self.globex_invite, self.globex_key):
            row = re.search(rf'<a href="/audit/{entry.id}/">.*?</tr>', page, re.S)[0]
            assert ">Globex Corporation</a>" in row, row
            assert "org-g<" not in row
        # The name an entry records is its own.
        row = re.search(rf'<a href="/audit/{self.globex_update.id}/">.*?</tr>', page, re.S)[0]
        assert ">Globex</a>" in row

    def test_the_names_cost_one_query_a_page(self, as_admin, django_assert_num_queries):
        for minute in range(10, 40):
            invite = {"action": AuditEntry.Action.USER_INVITE, "organization_name": ""}
            add_entry(minute, organization_id=f"org-{minute}", **invite)
            add_entry(minute - 5, organization_id=f"org-{minute}", organization_name=f"Org {minute}")
        as_admin.get(AUDIT)
        # The session, the user, the permissions, the page, and the newest names of its
        # organizations named by id alone.
        with django_assert_num_queries(5):
            page = table(as_admin.get(AUDIT))
        assert ">Org 39</a>" in page
        assert ">Org 10</a>" in page

    def test_an_organization_never_named_shows_its_id(self, as_admin):
        add_entry(9, action=AuditEntry.Action.USER_INVITE, organization_id="org-unnamed", organization_name="")
        assert ">org-unnamed</a>" in table(as_admin.get(AUDIT))


@pytest.mark.django_db
class RowLinkTests:
    def test_a_rows_organization_and_actor_keep_the_other_filters(self, as_admin):
        add_write(0, outcome_after=0.1, organization_id="org-g", organization_name="Globex")
        query = {"actor": "ed", "action": "organization.update", "since": "2026-05-01", "organization_name": "glo"}
        query |= READS
        page = table(as_admin.get(AUDIT, query))
        organization = re.search(r'<a href="([^"]*)">Globex</a>', page)[1]
        assert organization == (
            "?actor=ed&amp;action=organization.update&amp;since=2026-05-01&amp;reads=on&amp;organization=org-g"
        )
        actor = re.search(r'<a href="([^"]*)">ed</a>', page)[1]
        assert actor == (
            "?organization_name=glo&amp;action=organization.update&amp;since=2026-05-01&amp;reads=on&amp;actor=ed"
        )
        # Followed, each shows the entry again, the other filters in force.
        for link in (organization, actor):
            followed = as_admin.get(AUDIT + link.replace("&amp;", "&"))
            assert len(listed_ids(followed)) == 1
            assert 'name="since" value="2026-05-01"' in followed.content.decode()

    def test_an_invalid_filter_is_not_kept(self, as_admin):
        add_entry(0, action=AuditEntry.Action.UPDATE)
        page = table(as_admin.get(AUDIT, {"since": "bad", "actor": "ed"}))
        assert re.search(r'<a href="\?organization=org-a">Acme</a>', page)

    def test_an_actor_with_characters_of_a_query_is_quoted(self, as_admin):
        add_entry(0, action=AuditEntry.Action.UPDATE, actor_username="a&b=c")
        assert '<a href="?actor=a%26b%3Dc">a&amp;b=c</a>' in table(as_admin.get(AUDIT))


@pytest.mark.django_db
class FilterLabelTests:
    @pytest.mark.parametrize("query", [{}, {"actions": ["organization.get", "user.key"], "since": "bad"}])
    def test_every_label_names_a_control_of_the_page(self, as_admin, query):
        page = as_admin.get(AUDIT, query).content.decode()
        labelled = re.findall(r'<label for="([^"]+)"', page)
        assert labelled
        for control in labelled:
            assert re.search(rf'<(input|select|textarea)[^>]* id="{control}"', page), control
