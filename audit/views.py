"""The audit log's pages: the filtered list, one entry with the other half of its write, and the
CSV export. The queries live in `audit.queries`, the rows in `audit.rows`, the filters in
`audit.forms`. The permission (`orgadmin.view_audit_log`) and the link to an organization are
named, not imported: the audit app imports no feature."""

from __future__ import annotations

import csv
import json
from uuid import UUID

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from audit import queries
from audit.forms import AuditFilterForm
from audit.models import AuditEntry
from audit.rows import Outcome, audit_rows


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    matching = queries.audit_rows(**filters).shown()
    page = queries.audit_page(
        matching,
        before=queries.AuditCursor.parse(request.GET.get("before")),
        after=queries.AuditCursor.parse(request.GET.get("after")),
    )
    rows = audit_rows(
        page.entries,
        names=queries.newest_names(page.entries),
        organization_link=form.link("organization", replacing=("organization_name",)),
        actor_link=form.link("actor"),
    )
    kept = request.GET.copy()
    for key in ("before", "after"):
        kept.pop(key, None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "filters": kept.urlencode(),
        "changes_only": filters.get("include_reads") is False,
        "unmatched_name": filters["organization_name"] if matching.names == () else "",
        "reads_link": form.link("reads") + "on",
    }
    if request.htmx:
        return render(request, "audit/_audit_results.html", context)
    # The suggestions printed: the names the filter matched; all the log holds if it matched none.
    # Without a name filter there are none until the field asks (`audit_organization_names`): the
    # walk grows with the names, and at 400 names would be up to a third of the page's time (docs/performance.md).
    context["organization_names"] = queries.organization_names() if matching.names == () else matching.names or ()
    return render(request, "audit/audit_list.html", context)


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_organization_names(request: HttpRequest) -> HttpResponse:
    """The suggestions of the name filter, as its field is focused or typed in: the `<option>`s
    of the names the log holds containing what is typed (all of them for nothing typed)."""
    form = AuditFilterForm(request.GET)
    typed = form.cleaned_data["organization_name"].strip() if form.is_valid() else ""
    names = queries.organization_names(containing=typed)
    return render(request, "audit/_organization_names.html", {"rows": names}, using="jinja2")


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    """An entry, with the other half of its write: an outcome shows what its attempt sent, and an
    attempt links to its outcome, or says that none is recorded."""
    try:
        entry, other_half = queries.audit_entry(entry_id)
    except AuditEntry.DoesNotExist:
        raise Http404("No such audit entry.") from None
    attempt = other_half if entry.phase == AuditEntry.Phase.OUTCOME else entry
    try:
        organization_url = reverse("orgadmin:organization-detail", args=[UUID(entry.organization_id)])
    except ValueError:
        organization_url = ""
    sent = attempt.request_body if attempt is not None else entry.request_body
    return render(
        request,
        "audit/audit_detail.html",
        {
            "entry": entry,
            "outcome": Outcome.of(entry.outcome),
            "other_half": other_half,
            "unresolved": entry.phase == AuditEntry.Phase.ATTEMPT and other_half is None,
            "organization_url": organization_url,
            "request_body": json.dumps(sent, indent=2, ensure_ascii=False) if sent else "",
            "response_body": _pretty(entry.response_body),
        },
    )


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text  # not JSON (an HTML error page, a body cut short) or nested too deep: shown as stored


class _Echo:
    """A file-like object whose write returns what it was given, for csv.writer to stream through."""

    def write(self, value: str) -> str:
        return value


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed row by row: memory stays flat however large the export."""
    form = AuditFilterForm(request.GET)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(queries.EXPORT_COLUMNS)
        for row in queries.audit_export_rows(**form.filters()):
            yield writer.writerow([_csv_cell(value) for value in row])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _csv_cell(value: object) -> object:
    """Values a spreadsheet would run as a formula are prefixed with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
