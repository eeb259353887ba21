"""The organization pages: the list, an organization, create, edit (through the edit guard, or
as a change request when it needs a second person), delete, and the issuer check's fragment for
the edit form. Each view builds its form, validates, calls one service or query, and renders or
redirects; its status follows the policy in `orgadmin.web`."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.protocol import AuditContext, AuditUnavailable
from audit.rows import audit_rows
from orgadmin import outcomes
from orgadmin.change_requests import requesting
from orgadmin.change_requests.pending import waiting_for, waiting_on
from orgadmin.issuer_check import check_issuer
from orgadmin.organizations import credentials, edit_guard, external, lock, queries, services
from orgadmin.organizations.forms import OrganizationDeleteForm, OrganizationEditForm, OrganizationForm
from orgadmin.organizations.rows import organization_rows
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import SEARCHABLE, SECRETS, Organization
from orgadmin.web import (
    HtmxHttpRequest,
    form_status,
    held_by_issuer_check,
    htmx_redirect,
    refused_on_form,
    submitted,
    upstream_error_page,
)
from staff import recent_sign_in

ORGANIZATIONS_PER_PAGE = 25


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def organization_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    error, organizations = None, []
    try:
        organizations = queries.organization_list(context=AuditContext.from_request(request))
    except (PolytomicError, AuditUnavailable) as exc:
        error = exc
    matching = organizations
    if folded := query.casefold():
        matching = [organization for organization in organizations if _matches(organization, folded)]
    page = Paginator(matching, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    _notice_external_changes(request, page.object_list)
    rows = organization_rows(
        page.object_list,
        owner_id=queries.owner_id(organizations),
        waiting=waiting_for(organization.id for organization in page.object_list) if page.object_list else {},
        may_open_changes=request.user.has_perm("orgadmin.change_organization"),
    )
    context = {"page": page, "rows": rows, "query": query, "error": error}
    template = "orgadmin/_organization_results.html" if request.htmx else "orgadmin/organization_list.html"
    return render(request, template, context)


def _matches(organization: Organization, folded: str) -> bool:
    values = (organization.id, *(getattr(organization, name) for name in SEARCHABLE))
    return any(folded in value.casefold() for value in values)


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def organization_detail(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    try:
        organization = queries.organization_get(context=context, organization_id=organization_id)
        owner_id = queries.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return redirect("orgadmin:organization-list")
    except (PolytomicError, AuditUnavailable) as exc:
        return upstream_error_page(request, exc, title="Organization")
    # Its writes whose outcome is unknown are found out as the page shows them.
    outcomes.resolve_pending(context=context, organization_id=str(organization_id))
    _notice_external_changes(request, [organization])
    return render(
        request,
        "orgadmin/organization_detail.html",
        {
            "organization": organization,
            "is_owner": organization.id == owner_id,
            "last_client_id": queries.organization_last_sent_client_id(organization),
            # Kept OIDC credentials: whether, since when and by whom; never what.
            "kept_credentials": credentials.kept_credentials(organization.id) if organization.has_oidc else None,
            "audit_entries": audit_rows(queries.organization_recent_activity(organization_id=organization_id)),
            "waiting": waiting_on(organization.id),
            "external_change": external.last_change(organization.id),
        },
    )


def _notice_external_changes(request: HtmxHttpRequest, organizations: Sequence[Organization]) -> None:
    """Records what the page read that changed outside the portal; the log refusing it leaves it
    for the next page or cron, and the page is shown all the same."""
    with contextlib.suppress(AuditUnavailable):  # logged by audit.protocol.record
        external.compare(organizations, context=AuditContext.from_request(request))


# The views that receive the client secret hide it from error reports: the POST parameter, and
# every local variable of theirs and of what they call (forms, services, the client).
@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.add_organization", raise_exception=True)
@sensitive_post_parameters(*SECRETS)
@never_cache
def organization_create(request: HtmxHttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None)
    error = None
    if request.method == "POST" and form.is_valid():
        if held_by_issuer_check(form, AuditContext.from_request(request)):
            return _form_page(request, form, {"creating": True}, status=200)
        try:
            organization = services.organization_create(
                context=AuditContext.from_request(request),
                data=form.organization_input(),
                form_key=form.cleaned_data["form_key"],
                oidc=form.oidc_choice(),  # kept OIDC credentials
            )
        except (PolytomicError, AuditUnavailable) as exc:
            refused_on_form(form, error := exc, context=AuditContext.from_request(request))
        else:
            messages.success(request, f"Created {organization.name}.")
            return htmx_redirect(request, reverse("orgadmin:organization-detail", args=[organization.id]))
    return _form_page(request, form, {"creating": True}, status=form_status(form, error))


@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.change_organization", raise_exception=True)
@sensitive_post_parameters(*SECRETS)
@never_cache
def organization_edit(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    if request.method != "POST":
        return _edit(request, organization_id)
    # The fresh read, the guard's decision and the save, with no other write of it in between.
    try:
        with lock.held(organization_id):
            return _edit(request, organization_id)
    except lock.Busy as busy:
        return _edit_without_a_fresh_read(request, busy, organization_id)


def _edit(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    # A fresh read every time: the form is filled from it, and the edit guard checks against it.
    try:
        organization = queries.organization_get(
            context=AuditContext.from_request(request), organization_id=organization_id
        )
    except PolytomicNotFound:
        messages.warning(request, "That organization no longer exists at Polytomic (it may have been deleted).")
        return htmx_redirect(request, reverse("orgadmin:organization-list"))
    except (PolytomicError, AuditUnavailable) as exc:
        return _edit_without_a_fresh_read(request, exc, organization_id)
    last_client_id = queries.organization_last_sent_client_id(organization)
    form = OrganizationEditForm(submitted(request), organization=organization, last_client_id=last_client_id)
    page = {
        "organization": organization,
        "last_client_id": last_client_id,
        "waiting": waiting_on(organization.id),
    }
    if request.method == "POST" and form.is_valid():
        decision = form.decide()
        if decision.go and decision.summary.needs_a_second_person:
            return _request_update(request, form, decision, page)
        if decision.go and decision.summary.can_lock_out and not recent_sign_in.is_recent(request):
            return recent_sign_in.ask(request, data=request.POST, secrets=SECRETS, back=request.path)
        if decision.go:
            return _save(request, form, organization, page)
        form.hold(decision)
    return _form_page(request, form, page, status=form_status(form))


def _request_update(request: HtmxHttpRequest, form: OrganizationEditForm, decision, page: dict) -> HttpResponse:
    """Records the change for a second person instead of sending it, once a reason is given."""
    if not form.cleaned_data["reason"].strip():
        form.ask_for_a_reason(decision)
        return _form_page(request, form, page, status=422)
    try:
        change = requesting.request_update(
            context=AuditContext.from_request(request),
            organization=form.organization,
            data=form.organization_input(),
            # Kept OIDC credentials: whether to keep those sent is carried to the approved send.
            summary=decision.summary.as_record() | {"keep_credentials": form.oidc_choice().keep},
            reason=form.cleaned_data["reason"].strip(),
        )
    except requesting.AlreadyWaiting as exc:
        form.add_error(
            None, f"Nothing was requested: change request #{exc.change.pk} ({exc.change.title}) waits already."
        )
        form.hold(decision)
        return _form_page(request, form, page, status=200)
    except AuditUnavailable as exc:
        form.add_upstream_error(exc)
        form.hold(decision)
        return _form_page(request, form, page, status=200)
    messages.success(request, "Requested. An Admin other than you must approve it before it is sent to Polytomic.")
    return htmx_redirect(request, reverse("orgadmin:change-detail", args=[change.pk]))


def _save(request: HtmxHttpRequest, form: OrganizationEditForm, organization: Organization, page: dict) -> HttpResponse:
    try:
        updated = services.organization_update(
            context=AuditContext.from_request(request),
            organization_id=UUID(organization.id),
            data=form.organization_input(),
            form_key=form.cleaned_data["form_key"],
            oidc=form.oidc_choice(),  # kept OIDC credentials: kept, resent, replaced or erased
        )
    except (PolytomicError, AuditUnavailable) as exc:
        refused_on_form(form, exc, context=AuditContext.from_request(request), other_than=organization.id)
        return _form_page(request, form, page, status=form_status(form, exc))
    messages.success(request, f"Saved {updated.name}.")
    return htmx_redirect(request, reverse("orgadmin:organization-detail", args=[updated.id]))


def _edit_without_a_fresh_read(
    request: HtmxHttpRequest, error: PolytomicError | AuditUnavailable | lock.Busy, organization_id: UUID
) -> HttpResponse:
    """The organization could not be read before saving (or another save of it went on for too
    long): nothing is sent, and what was typed is shown again on the state the form was opened
    with (or, without one, the failure alone)."""
    if request.method != "POST":
        return upstream_error_page(request, error, title="Edit organization")
    opened = edit_guard.opened_organization(request.POST.get("opened", ""), organization_id)
    if opened is None:
        return upstream_error_page(request, error, title="Edit organization")
    form = OrganizationEditForm(request.POST, organization=opened)
    form.is_valid()
    if isinstance(error, AuditUnavailable):  # the read went out, its answer unrecorded and unused; no write did
        form.add_error(None, AuditUnavailable(nothing_sent=True).message)
    elif isinstance(error, lock.Busy):
        form.add_error(None, error.message)
    else:
        form.add_error(None, f"Nothing was saved: the current settings could not be read first. {error.message}")
    return _form_page(request, form, {"organization": opened}, status=200)


def _form_page(request: HtmxHttpRequest, form: Form, context: dict, *, status: int) -> HttpResponse:
    """The form page, or with htmx only the form."""
    context = {**context, "form": form}
    template = "orgadmin/_organization_form.html" if request.htmx else "orgadmin/organization_form.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.delete_organization", raise_exception=True)
@never_cache
def organization_delete(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    if request.method != "POST":
        return _delete_page(request, organization_id)
    # The fresh read the typed name is checked against, and the delete, with no other write of it in between.
    try:
        with lock.held(organization_id):
            return _delete_page(request, organization_id)
    except lock.Busy as busy:
        return upstream_error_page(request, busy, title="Delete organization")


def _delete_page(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    try:
        organization = queries.organization_get(context=context, organization_id=organization_id)
        is_owner = organization.id == queries.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.info(request, "That organization was already deleted.")
        return htmx_redirect(request, reverse("orgadmin:organization-list"))
    except (PolytomicError, AuditUnavailable) as exc:
        return upstream_error_page(request, exc, title="Delete organization")
    if is_owner and request.method == "POST":
        raise PermissionDenied("This is your partner account's own organization: Polytomic does not allow deleting it.")
    form = OrganizationDeleteForm(
        submitted(request), organization=organization, needs_a_second_person=_delete_needs_a_second_person()
    )
    page = {
        "organization": organization,
        "form": form,
        "is_owner": is_owner,
        "waiting": waiting_on(organization.id),
    }
    if request.method == "POST" and form.is_valid():
        if "reason" in form.cleaned_data:
            try:
                change = requesting.request_delete(
                    context=context, organization=organization, reason=form.cleaned_data["reason"].strip()
                )
            except requesting.AlreadyWaiting as exc:
                form.add_error(None, f"Nothing was requested: change request #{exc.change.pk} (Delete) waits already.")
                return render(request, "orgadmin/organization_delete.html", page)
            except AuditUnavailable as exc:
                form.add_error(None, exc.message)
                return render(request, "orgadmin/organization_delete.html", page)
            messages.success(request, "Requested. An Admin other than you must approve the delete before it is sent.")
            return htmx_redirect(request, reverse("orgadmin:change-detail", args=[change.pk]))
        if not recent_sign_in.is_recent(request):
            return recent_sign_in.ask(request, data=request.POST, secrets=SECRETS, back=request.path)
        return _delete(request, form, page)
    return render(request, "orgadmin/organization_delete.html", page, status=form_status(form))


def _delete_needs_a_second_person() -> bool:
    return settings.PORTAL_FOUR_EYES and "delete" in settings.PORTAL_APPROVAL_FOR


def _delete(request: HtmxHttpRequest, form: OrganizationDeleteForm, page: dict) -> HttpResponse:
    organization = form.organization
    try:
        services.organization_delete(
            context=AuditContext.from_request(request),
            organization_id=UUID(organization.id),
            organization_name=organization.name,
        )
    except PolytomicNotFound:
        messages.info(request, f"{organization.name} was already deleted.")
    except (PolytomicError, AuditUnavailable) as exc:
        form.add_error(None, exc.message)
        return render(request, "orgadmin/organization_delete.html", page, status=form_status(form, exc))
    else:
        messages.success(request, f"Deleted {organization.name}.")
    return htmx_redirect(request, reverse("orgadmin:organization-list"))


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def issuer_check(request: HtmxHttpRequest) -> HttpResponse:
    """Checks the typed OIDC issuer's discovery document (`orgadmin.issuer_check`): a fragment
    for the create, edit and onboarding forms, which it never blocks."""
    issuer = request.POST.get("issuer", "").strip()[:2000]
    result, error = None, None
    if not issuer:
        error = "Enter the issuer URL first."
    else:
        try:
            result = check_issuer(issuer, context=AuditContext.from_request(request))
        except AuditUnavailable as exc:
            error = exc.message
    return render(request, "orgadmin/_issuer_check.html", {"result": result, "error": error})
