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

import csv
import json
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
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from audit import queries
from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from orgadmin import change_requests, edit_guard, selectors, services
from orgadmin.forms import (
    ApiKeyForm,
    AuditFilterForm,
    ChangeDecisionForm,
    OrganizationDeleteForm,
    OrganizationEditForm,
    OrganizationForm,
    UserInviteForm,
    UserRemoveForm,
    UserRolesForm,
)
from orgadmin.issuer_check import check_issuer
from orgadmin.models import ChangeRequest
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound, PolytomicValidationError
from orgadmin.polytomic.fields import SEARCHABLE, SECRETS, Organization
from orgadmin.polytomic.people import Role, User
from orgadmin.rows import Outcome, audit_rows, organization_rows
from staff import recent_sign_in
from staff.forwarded_headers import client_ip

ORGANIZATIONS_PER_PAGE = 25
CHANGES_DECIDED_SHOWN = 20

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


# --- Change requests (four eyes) -------------------------------------------------------------------


@require_GET
@permission_required("orgadmin.change_organization", raise_exception=True)
@never_cache
def change_list(request: HttpRequest) -> HttpResponse:
    """The queue: requests sent whose outcome is not known (to check first), requests waiting for a
    decision, then the last decided ones, those past their time among them as expired. A GET
    writes nothing: `expire_change_requests` records the expiries (cron), the page shows them at once."""
    changes = ChangeRequest.objects.select_related("requested_by", "decided_by")
    now = timezone.now()
    unknown, waiting = ChangeRequest.outcome_unknown_q(now), ChangeRequest.waiting_q(now)
    return render(
        request,
        "orgadmin/change_list.html",
        {
            "unknown": list(changes.filter(unknown).order_by("decided_at")),
            "open": list(changes.filter(waiting).order_by("expires_at")),
            "decided": list(changes.exclude(waiting).exclude(unknown)[:CHANGES_DECIDED_SHOWN]),
        },
    )


@require_GET
@permission_required("orgadmin.change_organization", raise_exception=True)
@never_cache
def change_detail(request: HttpRequest, change_id: int) -> HttpResponse:
    """A request as its requester confirmed it, the organization as Polytomic has it now (while
    the request is open), and the approver's decision."""
    change = get_object_or_404(ChangeRequest.objects.select_related("requested_by", "decided_by"), pk=change_id)
    current, error = None, None
    if change.waiting:
        try:
            current = selectors.organization_get(
                context=AuditContext.from_request(request), organization_id=UUID(change.organization_id)
            )
        except (PolytomicError, AuditUnavailable) as exc:
            error = exc
    return _change_page(
        request,
        change,
        current=current,
        error=error,
        form=ChangeDecisionForm(recent_sign_in.resume(request, request.path)),
    )


@require_POST
@permission_required("orgadmin.approve_change_request", raise_exception=True)
def change_decide(request: HttpRequest, change_id: int) -> HttpResponse:
    """Approves (a recent sign-in check first) or rejects another's request."""
    approving = request.POST.get("decision") == "approve"
    form = ChangeDecisionForm(request.POST, rejecting=not approving)
    change = get_object_or_404(ChangeRequest, pk=change_id)
    if not form.is_valid():
        return _change_page(request, change, form=form, status=422)
    if approving and not recent_sign_in.is_recent(request):
        return recent_sign_in.ask(
            request, data=request.POST, secrets=(), back=reverse("orgadmin:change-detail", args=[change_id])
        )
    decide = change_requests.approve if approving else change_requests.reject
    try:
        change = decide(
            context=AuditContext.from_request(request),
            change_request_id=change_id,
            comment=form.cleaned_data["comment"],
        )
    except change_requests.ChangeRequestClosed as exc:
        messages.error(request, exc.message)
    except AuditUnavailable as exc:  # nothing was sent, or (OutcomeNotRecorded) what was sent
        messages.error(request, exc.message)
    else:
        messages.info(request, f"{change.status_shown}.")
    return redirect("orgadmin:change-detail", change_id)


@require_POST
@permission_required("orgadmin.approve_change_request", raise_exception=True)
def change_check(request: HttpRequest, change_id: int) -> HttpResponse:
    """Finds out at Polytomic what became of a request sent whose outcome is not known."""
    get_object_or_404(ChangeRequest, pk=change_id)
    try:
        change = change_requests.check(context=AuditContext.from_request(request), change_request_id=change_id)
    except change_requests.ChangeRequestClosed as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, f"{change.status_shown}: {change.result}")
    return redirect("orgadmin:change-detail", change_id)


def _change_page(request, change, *, form, current=None, error=None, status=200) -> HttpResponse:
    user = request.user
    may_decide = user.has_perm("orgadmin.approve_change_request") and change.requested_by_id != user.pk
    context = {
        "change": change, "current": current, "error": error, "form": form,
        "can_decide": may_decide and change.waiting,
        "can_check": may_decide and change.outcome_unknown,
    }  # fmt: skip
    return render(request, "orgadmin/change_detail.html", context, status=status)


# --- The audit log -----------------------------------------------------------------------------------


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
@never_cache
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = queries.audit_page(
        queries.audit_rows(**form.filters()).shown(),
        before=queries.AuditCursor.parse(request.GET.get("before")),
        after=queries.AuditCursor.parse(request.GET.get("after")),
    )
    filters = request.GET.copy()
    for key in ("before", "after"):
        filters.pop(key, None)
    context = {"form": form, "page": page, "rows": audit_rows(page.entries), "filters": filters.urlencode()}
    template = "orgadmin/_audit_results.html" if request.htmx else "orgadmin/audit_list.html"
    return render(request, template, context)


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
        "orgadmin/audit_detail.html",
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
