from __future__ import annotations

import csv
import json
import logging
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from orgadmin import services
from orgadmin.audit import AuditContext
from orgadmin.forms import (
    AuditFilterForm,
    OrganizationDeleteForm,
    OrganizationEditForm,
    OrganizationForm,
    opened_organization,
    organization_state,
)
from orgadmin.http import client_ip
from orgadmin.models import AuditEntry
from orgadmin.polytomic import Organization, PolytomicError, PolytomicNotFound
from orgadmin.throttle import remember_device

ORGANIZATIONS_PER_PAGE = 25
RECENT_AUDIT_ENTRIES = 10


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load, and a plain one without JavaScript."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _upstream_error_page(request: HttpRequest, error: PolytomicError, *, title: str) -> HttpResponse:
    """Polytomic failed, the portal did not: the page says so clearly, with a 200, so the portal's own
    error rate stays its own; Polytomic's failure is in the audit log."""
    return render(request, "orgadmin/upstream_error.html", {"error": error, "title": title})


security_log = logging.getLogger("orgadmin.security")


class SignInView(LoginView):
    """Django's sign-in, which also marks the browser as one this user signs in with, so that
    failures from elsewhere never pause their sign-in here (orgadmin/throttle.py)."""

    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        remember_device(self.request, response, form.get_user().get_username())
        return response


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 403 page, after logging who was refused what."""
    user = getattr(request, "user", None)
    security_log.warning(
        "Permission refused: %s %s for %s from %s",
        request.method,
        request.path,
        user.get_username() if user is not None and user.is_authenticated else "anonymous",
        client_ip(request),
    )
    return render(request, "403.html", status=403)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("orgadmin:organization-list")


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def organization_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    error = None
    organizations: list[Organization] = []
    try:
        organizations = services.organization_list(context=AuditContext.from_request(request))
    except PolytomicError as exc:
        error = exc
    owner_id = organizations[0].id if organizations else ""
    matching = [o for o in organizations if _matches(o, query)]
    page = Paginator(matching, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "query": query, "owner_id": owner_id, "error": error, "total": len(organizations)}
    template = "orgadmin/_organization_results.html" if request.htmx else "orgadmin/organization_list.html"
    return render(request, template, context)


def _matches(organization: Organization, query: str) -> bool:
    folded = query.casefold()
    return not folded or any(
        folded in value.casefold() for value in (organization.name, organization.sso_domain, organization.id)
    )


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def organization_detail(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    try:
        organization = services.organization_get(context=context, organization_id=organization_id)
        owner_id = services.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return redirect("orgadmin:organization-list")
    except PolytomicError as exc:
        return _upstream_error_page(request, exc, title="Organization")
    return render(
        request,
        "orgadmin/organization_detail.html",
        {
            "organization": organization,
            "is_owner": organization.id == owner_id,
            "last_client_id": services.organization_last_sent_client_id(organization_id=organization_id),
            # The table shows neither bodies nor user agents: they stay in the database.
            "audit_entries": AuditEntry.objects.filter(organization_id=str(organization_id)).defer(
                "request_body", "response_body", "user_agent"
            )[:RECENT_AUDIT_ENTRIES],
        },
    )


# The views that receive the client secret hide it from error reports: the POST parameter, and
# every local variable of theirs and of what they call (forms, services, the client).
@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.add_organization", raise_exception=True)
@sensitive_post_parameters("client_secret")
@never_cache
def organization_create(request: HtmxHttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                context=AuditContext.from_request(request),
                data=form.organization_input(),
                form_key=form.cleaned_data["form_key"],
            )
        except PolytomicError as exc:
            form.add_upstream_error(exc)
        else:
            messages.success(request, f"Created {organization.name}.")
            return _redirect(request, reverse("orgadmin:organization-detail", args=[organization.id]))
    return _form_page(request, form, "orgadmin/organization_form.html", {"creating": True})


@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.change_organization", raise_exception=True)
@sensitive_post_parameters("client_secret")
@never_cache
def organization_edit(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    # A fresh read every time: the form is filled from it, and a save is checked against it.
    try:
        organization = services.organization_get(context=context, organization_id=organization_id)
    except PolytomicNotFound:
        messages.warning(request, "That organization no longer exists at Polytomic (it may have been deleted).")
        return _redirect(request, reverse("orgadmin:organization-list"))
    except PolytomicError as exc:
        opened = opened_organization(request.POST.get("opened", ""), organization_id) if request.POST else None
        if opened is None:
            return _upstream_error_page(request, exc, title="Edit organization")
        # Keep what the operator typed: show the form again, standing on the state it was opened with.
        form = OrganizationEditForm(request.POST, organization=opened)
        form.is_valid()
        form.add_error(None, f"Nothing was saved: the current settings could not be read first. {exc.message}")
        return _form_page(request, form, "orgadmin/organization_form.html", {"organization": opened})
    last_client_id = services.organization_last_sent_client_id(organization_id=organization_id)
    form = OrganizationEditForm(
        request.POST if request.method == "POST" else None, organization=organization, last_client_id=last_client_id
    )
    page = {"organization": organization, "last_client_id": last_client_id, "changed_meanwhile": []}
    if request.method == "POST" and form.is_valid():
        data = form.organization_input()
        summary = services.organization_changes(
            before=organization, after=data, last_client_id=last_client_id.client_id if last_client_id else ""
        )
        if form.opened_state() != organization_state(organization):
            page["changed_meanwhile"] = _changed_meanwhile(form.opened_state(), organization)
            form.reopen(organization)
            form.ask_to_confirm(summary)
        elif summary.changes_sso and not form.confirmed(summary):
            form.ask_to_confirm(summary)
        else:
            return _save(request, form, organization, page)
    return _form_page(request, form, "orgadmin/organization_form.html", page)


def _save(request: HtmxHttpRequest, form: OrganizationEditForm, organization: Organization, page: dict) -> HttpResponse:
    try:
        updated = services.organization_update(
            context=AuditContext.from_request(request),
            organization_id=UUID(organization.id),
            data=form.organization_input(),
            form_key=form.cleaned_data["form_key"],
        )
    except PolytomicError as exc:
        form.add_upstream_error(exc)
        return _form_page(request, form, "orgadmin/organization_form.html", page)
    messages.success(request, f"Saved {updated.name}.")
    return _redirect(request, reverse("orgadmin:organization-detail", args=[updated.id]))


def _changed_meanwhile(opened: dict[str, str], now: Organization) -> list[tuple[str, str, str]]:
    current = organization_state(now)
    labels = services.FIELD_LABELS
    return [
        (labels[name], opened.get(name, ""), current[name]) for name in current if opened.get(name) != current[name]
    ]


def _form_page(request: HtmxHttpRequest, form, template: str, context: dict) -> HttpResponse:
    """The form page, or with htmx only the form; 422 whenever it shows something to fix or confirm."""
    status = 422 if form.is_bound else 200
    context = {**context, "form": form}
    if request.htmx:
        return render(request, "orgadmin/_organization_form.html", context, status=status)
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.delete_organization", raise_exception=True)
@never_cache
def organization_delete(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    try:
        organization = services.organization_get(context=context, organization_id=organization_id)
        is_owner = organization.id == services.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.info(request, "That organization was already deleted.")
        return _redirect(request, reverse("orgadmin:organization-list"))
    except PolytomicError as exc:
        return _upstream_error_page(request, exc, title="Delete organization")
    form = OrganizationDeleteForm(request.POST if request.method == "POST" else None, organization=organization)
    status = 200
    if is_owner:
        status = 403 if request.method == "POST" else 200
    elif request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                services.organization_delete(
                    context=context,
                    organization_id=organization_id,
                    form_key=form.cleaned_data["form_key"],
                    organization_name=organization.name,
                )
            except PolytomicNotFound:
                messages.info(request, f"{organization.name} was already deleted.")
                return _redirect(request, reverse("orgadmin:organization-list"))
            except PolytomicError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Deleted {organization.name}.")
                return _redirect(request, reverse("orgadmin:organization-list"))
    return render(
        request,
        "orgadmin/organization_delete.html",
        {"organization": organization, "form": form, "is_owner": is_owner},
        status=status,
    )


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = services.audit_page(
        # The list shows neither bodies nor user agents: they stay in the database.
        services.audit_entries(**form.filters()).defer("request_body", "response_body", "user_agent"),
        before=services.AuditCursor.parse(request.GET.get("before")),
        after=services.AuditCursor.parse(request.GET.get("after")),
        size=services.AUDIT_PAGE_SIZE,
    )
    filters = request.GET.copy()
    for key in ("before", "after"):
        filters.pop(key, None)
    context = {"form": form, "page": page, "filters": filters.urlencode()}
    template = "orgadmin/_audit_results.html" if request.htmx else "orgadmin/audit_list.html"
    return render(request, template, context)


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = get_object_or_404(AuditEntry, pk=entry_id)
    try:
        organization_url = reverse("orgadmin:organization-detail", args=[UUID(entry.organization_id)])
    except ValueError:
        organization_url = ""
    return render(
        request,
        "orgadmin/audit_detail.html",
        {
            "entry": entry,
            "organization_url": organization_url,
            "request_body": json.dumps(entry.request_body, indent=2, ensure_ascii=False)
            if entry.request_body is not None
            else "",
            "response_body": _pretty(entry.response_body),
        },
    )


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text  # not JSON (an HTML error page, or a body cut short): shown as stored


EXPORT_COLUMNS = (
    "created_at",
    "actor_username",
    "action",
    "method",
    "path",
    "organization_id",
    "organization_name",
    "response_status",
    "outcome",
    "error_message",
    "duration_ms",
    "attempts",
    "idempotency_key",
    "request_id",
    "api_version",
    "client_ip",
    "user_agent",
    "entry_hash",
)


class _Echo:
    """A file-like object whose write returns what it was given, for csv.writer to stream through."""

    def write(self, value: str) -> str:
        return value


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed row by row: memory stays flat however large the export."""
    form = AuditFilterForm(request.GET)
    entries = services.audit_entries(**form.filters()).order_by("-created_at", "-id")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(EXPORT_COLUMNS)
        for entry in entries.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000):
            yield writer.writerow([_csv_cell(value) for value in entry])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _csv_cell(value: object) -> object:
    """Values a spreadsheet would run as a formula are prefixed with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
