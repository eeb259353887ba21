"""The portal's pages. Each view builds its form, validates, calls one service or selector, and
renders or redirects; the status it answers follows one policy (orgadmin/README.md):

- 200: the page rendered what it meant to render: an edit form held for confirmation, and a page
  that says plainly that Polytomic failed (no answer, 5xx, 429, an unreadable answer, its refusal
  of the partner key) or that the audit log could not record the call (so nothing was sent, or a
  read's answer is not shown), with what was typed kept. The portal handled those failures; they
  are in the audit log and the `orgadmin.security` log, not in its status codes;
- 422: a form with input the operator must correct (the portal's checks, or Polytomic's 409/422);
- 403, 404, 405 as Django means them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from audit.protocol import AuditContext, AuditUnavailable
from audit.store import can_append
from orgadmin import change_requests, edit_guard, selectors, services
from orgadmin.forms import (
    ApiKeyForm,
    OrganizationDeleteForm,
    OrganizationEditForm,
    OrganizationForm,
    UserInviteForm,
    UserRemoveForm,
    UserRolesForm,
)
from orgadmin.issuer_check import check_issuer
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound, PolytomicValidationError
from orgadmin.polytomic.fields import SEARCHABLE, SECRETS, Organization
from orgadmin.polytomic.people import Role, User
from orgadmin.rows import audit_rows, organization_rows
from staff import recent_sign_in
from staff.forwarded_headers import client_ip

ORGANIZATIONS_PER_PAGE = 25

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load, and a plain one without JavaScript."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _upstream_error_page(request: HttpRequest, error: PolytomicError | AuditUnavailable, *, title: str) -> HttpResponse:
    """Polytomic failed, or the audit log could not record the call: the page says so plainly. A
    form posted here is kept, to be sent again as it was (the client secret excepted)."""
    kept = []
    if request.method == "POST":
        if isinstance(error, AuditUnavailable):  # a read before the write: its answer unused, and no write sent
            error = AuditUnavailable(nothing_sent=True)
        kept = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", *SECRETS)
            for value in values
        ]
    return render(request, "orgadmin/upstream_error.html", {"error": error, "title": title, "kept": kept})


def _form_status(form: Form, error: PolytomicError | AuditUnavailable | None = None) -> int:
    """422 for input the operator must correct (Polytomic's refusal of it included); otherwise
    200, a failure of Polytomic's or of the audit log shown on the form."""
    if error is not None and not isinstance(error, PolytomicValidationError):
        return 200
    return 422 if form.is_bound and form.errors else 200


# --- The shell: refusals, health ------------------------------------------------------------


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
    reason = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the database answers, 503 otherwise. Never calls Polytomic, needs no sign-in;
    answered by HealthCheckMiddleware before anything else looks at the request."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"detail": "Method not allowed"}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("Health check: database unreachable (%s)", type(exc).__name__)
        response = JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    else:
        response = JsonResponse({"status": "ok", "database": "ok"})
        if not can_append():  # an append would wait past its timeout: out of the load balancer until it would not
            logger.warning("Health check: the audit log cannot take an entry")
            response = JsonResponse({"status": "unavailable", "database": "ok", "audit_log": "unavailable"}, status=503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("orgadmin:organization-list")


# --- Organizations -----------------------------------------------------------------------------------


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def organization_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    error, organizations = None, []
    try:
        organizations = selectors.organization_list(context=AuditContext.from_request(request))
    except (PolytomicError, AuditUnavailable) as exc:
        error = exc
    matching = organizations
    if folded := query.casefold():
        matching = [organization for organization in organizations if _matches(organization, folded)]
    page = Paginator(matching, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    rows = organization_rows(page.object_list, owner_id=selectors.owner_id(organizations))
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
        organization = selectors.organization_get(context=context, organization_id=organization_id)
        owner_id = selectors.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return redirect("orgadmin:organization-list")
    except (PolytomicError, AuditUnavailable) as exc:
        return _upstream_error_page(request, exc, title="Organization")
    return render(
        request,
        "orgadmin/organization_detail.html",
        {
            "organization": organization,
            "is_owner": organization.id == owner_id,
            "last_client_id": selectors.organization_last_sent_client_id(organization),
            "audit_entries": audit_rows(selectors.organization_recent_activity(organization_id=organization_id)),
        },
    )


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
        try:
            organization = services.organization_create(
                context=AuditContext.from_request(request),
                data=form.organization_input(),
                form_key=form.cleaned_data["form_key"],
            )
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_upstream_error(error := exc)
        else:
            messages.success(request, f"Created {organization.name}.")
            return _redirect(request, reverse("orgadmin:organization-detail", args=[organization.id]))
    return _form_page(request, form, {"creating": True}, status=_form_status(form, error))


@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.change_organization", raise_exception=True)
@sensitive_post_parameters(*SECRETS)
@never_cache
def organization_edit(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    # A fresh read every time: the form is filled from it, and the edit guard checks against it.
    try:
        organization = selectors.organization_get(
            context=AuditContext.from_request(request), organization_id=organization_id
        )
    except PolytomicNotFound:
        messages.warning(request, "That organization no longer exists at Polytomic (it may have been deleted).")
        return _redirect(request, reverse("orgadmin:organization-list"))
    except (PolytomicError, AuditUnavailable) as exc:
        return _edit_without_a_fresh_read(request, exc, organization_id)
    last_client_id = selectors.organization_last_sent_client_id(organization)
    form = OrganizationEditForm(_submitted(request), organization=organization, last_client_id=last_client_id)
    page = {"organization": organization, "last_client_id": last_client_id}
    if request.method == "POST" and form.is_valid():
        decision = form.decide()
        if decision.go and decision.summary.needs_a_second_person:
            return _request_update(request, form, decision, page)
        if decision.go and decision.summary.can_lock_out and not recent_sign_in.is_recent(request):
            return recent_sign_in.ask(request, data=request.POST, secrets=SECRETS, back=request.path)
        if decision.go:
            return _save(request, form, organization, page)
        form.hold(decision)
    return _form_page(request, form, page, status=_form_status(form))


def _request_update(request: HtmxHttpRequest, form: OrganizationEditForm, decision, page: dict) -> HttpResponse:
    """Records the change for a second person instead of sending it, once a reason is given."""
    if not form.cleaned_data["reason"].strip():
        form.ask_for_a_reason(decision)
        return _form_page(request, form, page, status=422)
    try:
        change = change_requests.request_update(
            context=AuditContext.from_request(request),
            organization=form.organization,
            data=form.organization_input(),
            summary=decision.summary.as_record(),
            reason=form.cleaned_data["reason"].strip(),
        )
    except AuditUnavailable as exc:
        form.add_upstream_error(exc)
        form.hold(decision)
        return _form_page(request, form, page, status=200)
    messages.success(request, "Requested. An Admin other than you must approve it before it is sent to Polytomic.")
    return _redirect(request, reverse("orgadmin:change-detail", args=[change.pk]))


def _submitted(request: HtmxHttpRequest) -> QueryDict | None:
    """What a form page shows: what was posted, or what was kept across a sign-in check (its
    secret to be typed again), or nothing."""
    return request.POST if request.method == "POST" else recent_sign_in.resume(request, request.path)


def _save(request: HtmxHttpRequest, form: OrganizationEditForm, organization: Organization, page: dict) -> HttpResponse:
    try:
        updated = services.organization_update(
            context=AuditContext.from_request(request),
            organization_id=UUID(organization.id),
            data=form.organization_input(),
            form_key=form.cleaned_data["form_key"],
        )
    except (PolytomicError, AuditUnavailable) as exc:
        form.add_upstream_error(exc)
        return _form_page(request, form, page, status=_form_status(form, exc))
    messages.success(request, f"Saved {updated.name}.")
    return _redirect(request, reverse("orgadmin:organization-detail", args=[updated.id]))


def _edit_without_a_fresh_read(
    request: HtmxHttpRequest, error: PolytomicError | AuditUnavailable, organization_id: UUID
) -> HttpResponse:
    """The organization could not be read before saving: nothing is sent, and what was typed is
    shown again on the state the form was opened with (or, without one, the failure alone)."""
    if request.method != "POST":
        return _upstream_error_page(request, error, title="Edit organization")
    opened = edit_guard.opened_organization(request.POST.get("opened", ""), organization_id)
    if opened is None:
        return _upstream_error_page(request, error, title="Edit organization")
    form = OrganizationEditForm(request.POST, organization=opened)
    form.is_valid()
    if isinstance(error, AuditUnavailable):  # the read went out, its answer unrecorded and unused; no write did
        form.add_error(None, AuditUnavailable(nothing_sent=True).message)
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
    context = AuditContext.from_request(request)
    try:
        organization = selectors.organization_get(context=context, organization_id=organization_id)
        is_owner = organization.id == selectors.organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.info(request, "That organization was already deleted.")
        return _redirect(request, reverse("orgadmin:organization-list"))
    except (PolytomicError, AuditUnavailable) as exc:
        return _upstream_error_page(request, exc, title="Delete organization")
    if is_owner and request.method == "POST":
        raise PermissionDenied("This is your partner account's own organization: Polytomic does not allow deleting it.")
    form = OrganizationDeleteForm(
        _submitted(request), organization=organization, needs_a_second_person=_delete_needs_a_second_person()
    )
    page = {"organization": organization, "form": form, "is_owner": is_owner}
    if request.method == "POST" and form.is_valid():
        if "reason" in form.cleaned_data:
            try:
                change = change_requests.request_delete(
                    context=context, organization=organization, reason=form.cleaned_data["reason"].strip()
                )
            except AuditUnavailable as exc:
                form.add_error(None, exc.message)
                return render(request, "orgadmin/organization_delete.html", page)
            messages.success(request, "Requested. An Admin other than you must approve the delete before it is sent.")
            return _redirect(request, reverse("orgadmin:change-detail", args=[change.pk]))
        if not recent_sign_in.is_recent(request):
            return recent_sign_in.ask(request, data=request.POST, secrets=SECRETS, back=request.path)
        return _delete(request, form, page)
    return render(request, "orgadmin/organization_delete.html", page, status=_form_status(form))


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
        return render(request, "orgadmin/organization_delete.html", page, status=_form_status(form, exc))
    else:
        messages.success(request, f"Deleted {organization.name}.")
    return _redirect(request, reverse("orgadmin:organization-list"))


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def issuer_check(request: HtmxHttpRequest) -> HttpResponse:
    """Checks the typed OIDC issuer's discovery document (orgadmin/issuer_check.py): a fragment
    for the edit form, which it never blocks."""
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


# --- A customer organization's people ----------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """An organization, read fresh, with its users, its roles by id, and one of its users."""

    organization: Organization
    users: list[User]
    roles: dict[str, Role]
    user: User | None = None

    def role_names(self, user: User) -> list[str]:
        return [self.roles[role_id].name if role_id in self.roles else role_id for role_id in user.role_ids]


def _people(request: HtmxHttpRequest, organization_id: UUID, user_id: UUID | None = None):
    """The organization's people, fresh, or the page to show instead (it is gone, or Polytomic failed)."""
    context = AuditContext.from_request(request)
    try:
        organization = selectors.organization_get(context=context, organization_id=organization_id)
        users, roles = selectors.organization_people(context=context, organization_id=organization_id)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return None, _redirect(request, reverse("orgadmin:organization-list"))
    except (PolytomicError, AuditUnavailable) as exc:
        return None, _upstream_error_page(request, exc, title="Users")
    user = next((u for u in users if u.id == str(user_id)), None)
    if user_id is not None and user is None:
        messages.info(request, "That user is no longer in this organization.")
        return None, _redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return People(organization, users, roles, user), None


@require_GET
@permission_required("orgadmin.view_users", raise_exception=True)
@never_cache
def user_list(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    people, instead = _people(request, organization_id)
    if instead is not None:
        return instead
    query = request.GET.get("q", "").strip()[:200]
    shown = [user for user in people.users if query.casefold() in f"{user.email} {user.id}".casefold()]
    rows = [(user, people.role_names(user)) for user in sorted(shown, key=lambda u: u.email)]
    return render(request, "orgadmin/user_list.html", {"people": people, "rows": rows, "query": query})


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
def user_invite(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    people, instead = _people(request, organization_id)
    if instead is not None:
        return instead
    form = UserInviteForm(request.POST if request.method == "POST" else None, roles=people.roles)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_invite(
                context=AuditContext.from_request(request),
                organization_id=organization_id,
                email=data["email"],
                role_ids=data["role_ids"],
                form_key=data["form_key"],
            )
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_upstream_error(error := exc)
        else:
            messages.success(request, f"Invited {user.email}: Polytomic sends them an invitation email.")
            return _redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return render(
        request,
        "orgadmin/user_form.html",
        {"people": people, "form": form, "inviting": True},
        status=_form_status(form, error),
    )


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
def user_roles(request: HtmxHttpRequest, organization_id: UUID, user_id: UUID) -> HttpResponse:
    people, instead = _people(request, organization_id, user_id)
    if instead is not None:
        return instead
    form = UserRolesForm(request.POST if request.method == "POST" else None, roles=people.roles, user=people.user)
    error = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.user_update_roles(
                context=AuditContext.from_request(request),
                organization_id=organization_id,
                user_id=user_id,
                email=people.user.email,
                role_ids=data["role_ids"],
                form_key=data["form_key"],
            )
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_upstream_error(error := exc)
        else:
            messages.success(request, f"Changed the roles of {people.user.email}.")
            return _redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return render(
        request, "orgadmin/user_form.html", {"people": people, "form": form}, status=_form_status(form, error)
    )


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.manage_users", raise_exception=True)
@never_cache
def user_remove(request: HtmxHttpRequest, organization_id: UUID, user_id: UUID) -> HttpResponse:
    people, instead = _people(request, organization_id, user_id)
    if instead is not None:
        return instead
    form = UserRemoveForm(request.POST if request.method == "POST" else None, user=people.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_remove(
                context=AuditContext.from_request(request), organization_id=organization_id, user_id=user_id
            )
        except PolytomicNotFound:
            messages.info(request, f"{people.user.email} was already removed.")
        except (PolytomicError, AuditUnavailable) as exc:
            form.add_error(None, exc.message)
            return render(
                request, "orgadmin/user_remove.html", {"people": people, "form": form}, status=_form_status(form, exc)
            )
        else:
            messages.success(request, f"Removed {people.user.email} from {people.organization.name}.")
        return _redirect(request, reverse("orgadmin:user-list", args=[organization_id]))
    return render(request, "orgadmin/user_remove.html", {"people": people, "form": form}, status=_form_status(form))


# A minted key lives in this view's variables alone: error reports show none of them.
@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.create_api_key", raise_exception=True)
@never_cache
def user_key(request: HtmxHttpRequest, organization_id: UUID, user_id: UUID) -> HttpResponse:
    people, instead = _people(request, organization_id, user_id)
    if instead is not None:
        return instead
    posted = request.method == "POST"
    form = ApiKeyForm(
        request.POST if posted else None, once="" if posted else services.api_key_form_token(staff=request.user)
    )
    page = {
        "people": people,
        "form": form,
        "last_key": selectors.user_last_key(organization_id=organization_id, user_id=user_id),
    }
    if request.method != "POST" or not form.is_valid():
        return render(request, "orgadmin/user_key.html", page, status=_form_status(form))
    if not services.api_key_form_token_take(staff=request.user, token=form.cleaned_data["once"]):
        return render(request, "orgadmin/user_key_used.html", page)
    try:
        key = services.user_create_api_key(
            context=AuditContext.from_request(request),
            organization_id=organization_id,
            user_id=user_id,
            force=form.cleaned_data["force"],
            form_key=form.cleaned_data["form_key"],
        )
    except (PolytomicError, AuditUnavailable) as exc:
        form.add_upstream_error(exc)
        form.data = form.data.copy()
        form.data["once"] = services.api_key_form_token(staff=request.user)
        return render(request, "orgadmin/user_key.html", page, status=_form_status(form, exc))
    return render(request, "orgadmin/user_key_created.html", {**page, "key": key.value})
