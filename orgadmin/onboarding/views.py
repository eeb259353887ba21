"""The onboarding pages (the flow: `orgadmin.onboarding.flow`): the flows in progress, a new one,
and a flow's page: its checklist, and the form of the step it is at. Statuses follow
`orgadmin.web`'s policy: a step that failed at Polytomic is said on its page (200), input to
correct is a 422.

Each step's POST runs the step and redirects to the flow's page (which says how it went), except
the organization step, whose form is shown again with Polytomic's refusal on its fields.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core import signing
from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.connections.forms import ConnectionsForm
from orgadmin.connections.queries import partner_connections
from orgadmin.form_parts import DAMAGED
from orgadmin.models import Onboarding, OnboardingTask
from orgadmin.onboarding import claims
from orgadmin.onboarding import flow as onboarding
from orgadmin.onboarding.flow import Step
from orgadmin.onboarding.forms import AdministratorsForm, OnboardingOrganizationForm
from orgadmin.onboarding.pages import FlowPage, detail_context, flow_page
from orgadmin.organizations.queries import organization_owner_id
from orgadmin.polytomic.errors import PolytomicError, PolytomicValidationError
from orgadmin.polytomic.fields import SECRETS
from orgadmin.web import held_by_issuer_check, refused_on_form

FLOW_TOKEN_SALT = "orgadmin.onboarding.flow"  # noqa: S105 (a signing salt, not a secret)
CLOSED_SHOWN = 20


@require_GET
@permission_required("orgadmin.add_organization", raise_exception=True)
@never_cache
def onboarding_list(request: HttpRequest) -> HttpResponse:
    """The flows in progress, for anyone allowed to pick one up, then the last closed ones."""
    flows = Onboarding.objects.select_related("started_by", "closed_by").prefetch_related("tasks")
    return render(
        request,
        "orgadmin/onboarding_list.html",
        {
            "open": [FlowPage(f, list(f.tasks.all())) for f in flows.filter(status=Onboarding.Status.OPEN)],
            "closed": [
                FlowPage(f, list(f.tasks.all()))
                for f in flows.exclude(status=Onboarding.Status.OPEN).order_by("-closed_at", "-id")[:CLOSED_SHOWN]
            ],
        },
    )


# --- The organization step -------------------------------------------------------------------------


@sensitive_variables()
@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.add_organization", raise_exception=True)
@sensitive_post_parameters(*SECRETS)
@never_cache
def onboarding_new(request: HttpRequest) -> HttpResponse:
    """The first step, before the flow exists: it is saved when the organization is first sent."""
    form = OnboardingOrganizationForm(request.POST if request.method == "POST" else None)
    token = request.POST.get("flow", "") if request.method == "POST" else _flow_token()
    correlation_id = _correlation_id(token)
    if correlation_id is None:
        form.is_valid()
        form.add_error(None, DAMAGED)
        return _organization_page(request, form, token=_flow_token(), status=422)
    if request.method != "POST" or not form.is_valid():
        return _organization_page(request, form, token=token, status=422 if form.is_bound else 200)
    context = onboarding.flow_context(AuditContext.from_request(request), correlation_id)
    held = _check_before_saving(form, context)
    if held:
        return _organization_page(request, form, token=token, status=200)
    try:
        flow = onboarding.start(
            actor=request.user, correlation_id=correlation_id, data=form.organization_input(),
            issuer_check=form.issuer_check,
        )  # fmt: skip
    except IntegrityError:  # the same form sent twice at once: the first one's flow goes on
        flow = Onboarding.objects.filter(correlation_id=correlation_id).first()
        if flow is None:
            raise
        return redirect("orgadmin:onboarding-detail", flow.pk)
    return _send_organization(request, form, flow)


def _flow_token() -> str:
    """A new flow's correlation id, signed: the audit entries of its first step carry it, and no
    one can make them carry another flow's."""
    return signing.dumps(str(uuid.uuid4()), salt=FLOW_TOKEN_SALT, compress=False)


def _correlation_id(token: str) -> UUID | None:
    try:
        return UUID(signing.loads(token, salt=FLOW_TOKEN_SALT))
    except (signing.BadSignature, ValueError, TypeError):
        return None


@sensitive_variables()
@require_POST
@permission_required("orgadmin.add_organization", raise_exception=True)
@sensitive_post_parameters(*SECRETS)
@never_cache
def onboarding_organization(request: HttpRequest, flow_id: int) -> HttpResponse:
    """The organization step again, after it failed: corrected, or retried as it was sent."""
    page = flow_page(flow_id)
    if page.current != Step.ORGANIZATION or page.flow.status != Onboarding.Status.OPEN:
        return _not_this_step(request, page)
    form = _organization_form(page, request.POST)
    if not form.is_valid():
        return _organization_page(request, form, page=page, status=422)
    context = onboarding.flow_context(AuditContext.from_request(request), page.flow)
    if _check_before_saving(form, context):
        return _organization_page(request, form, page=page, status=200)
    return _send_organization(request, form, page.flow)


def _organization_form(page: FlowPage, data=None) -> OnboardingOrganizationForm:
    [task] = [task for task in page.tasks if task.step == Step.ORGANIZATION]
    return OnboardingOrganizationForm(
        data, kept=page.flow.organization_input, locked=task.state == OnboardingTask.State.UNKNOWN
    )


def _check_before_saving(form: OnboardingOrganizationForm, context) -> bool:
    """The create form's issuer check (`orgadmin.web.held_by_issuer_check`), its result recorded
    with the flow. True when the form is held."""
    held = held_by_issuer_check(form, context)
    form.issuer_check = onboarding.check_record(form.check_result, saved_anyway=form.cleaned_data["save_anyway"])
    return held


def _send_organization(request: HttpRequest, form: OnboardingOrganizationForm, flow: Onboarding) -> HttpResponse:
    """Creates the organization; on a failure, the step's form again, with Polytomic's refusal on its fields."""
    try:
        organization = onboarding.create_organization(
            flow,
            context=AuditContext.from_request(request),
            data=form.organization_input(),
            issuer_check=form.issuer_check,
            keep_credentials=form.oidc_choice().keep,
        )
    except (claims.StepBusy, claims.FlowClosed, onboarding.AlreadyDone) as exc:
        messages.warning(request, exc.message)
        return redirect("orgadmin:onboarding-detail", flow.pk)
    except (PolytomicError, AuditUnavailable) as exc:
        refused_on_form(form, exc, context=onboarding.flow_context(AuditContext.from_request(request), flow))
        page = flow_page(flow.pk)
        return _organization_page(
            request, _rebound(form, page), page=page, status=422 if isinstance(exc, PolytomicValidationError) else 200
        )
    messages.success(request, f"Created {organization.name}. Next: the connections to share into it.")
    return redirect("orgadmin:onboarding-detail", flow.pk)


def _rebound(form: OnboardingOrganizationForm, page: FlowPage) -> OnboardingOrganizationForm:
    """The form again after a failure, bound to what was typed, with its errors; locked if the
    outcome is unknown, so that the retry sends what was sent."""
    again = _organization_form(page, form.data)
    again.is_valid()
    for name, errors in form.errors.items():
        for error in errors:
            if error not in again.errors.get(name, []):
                again.add_error(name if name in again.fields else None, error)
    again.issuer_check = form.issuer_check
    again.check_result = getattr(form, "check_result", None)
    return again


def _organization_page(
    request: HttpRequest, form: OnboardingOrganizationForm, *, token: str = "", page: FlowPage | None = None,
    status: int,
) -> HttpResponse:  # fmt: skip
    context = {"form": form, "token": token, "check": getattr(form, "check_result", None)}
    if page is not None:
        context |= detail_context(page)
    return render(request, "orgadmin/onboarding_organization.html", context, status=status)


# --- A flow's page, and its later steps ------------------------------------------------------------


@require_GET
@permission_required("orgadmin.add_organization", raise_exception=True)
@never_cache
def onboarding_detail(request: HttpRequest, flow_id: int) -> HttpResponse:
    page = flow_page(flow_id)
    if any(task.state == OnboardingTask.State.UNKNOWN for task in page.tasks):  # found out as they are shown
        onboarding.resolve_unknown(page.flow, context=AuditContext.from_request(request))
        page = flow_page(flow_id)
    if page.flow.status != Onboarding.Status.OPEN or page.current == Step.DONE:
        return render(request, "orgadmin/onboarding_detail.html", detail_context(page))
    if page.current == Step.ORGANIZATION:
        return _organization_page(request, _organization_form(page), page=page, status=200)
    if page.current == Step.CONNECTIONS:
        return _connections_page(request, page)
    return _administrators_page(request, page)


def _connections_page(
    request: HttpRequest, page: FlowPage, form: ConnectionsForm | None = None, *, status: int = 200
) -> HttpResponse:
    error = None
    if form is None and not page.flow.connections_chosen:
        try:
            form = ConnectionsForm(connections=_partner_connections(request, page.flow))
        except (PolytomicError, AuditUnavailable) as exc:
            error = exc
    return render(
        request,
        "orgadmin/onboarding_connections.html",
        {**detail_context(page), "form": form, "error": error},
        status=status,
    )


def _partner_connections(request: HttpRequest, flow: Onboarding):
    context = onboarding.flow_context(AuditContext.from_request(request), flow)
    owner_id = organization_owner_id(context=context)
    return partner_connections(context=context, owner_id=owner_id)


@require_POST
@permission_required("orgadmin.add_organization", raise_exception=True)
@never_cache
def onboarding_connections(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Shares the connections chosen (the first time), or those not shared yet (a retry)."""
    page = flow_page(flow_id)
    if page.current != Step.CONNECTIONS or page.flow.status != Onboarding.Status.OPEN:
        return _not_this_step(request, page)
    context = onboarding.flow_context(AuditContext.from_request(request), page.flow)
    try:
        owner_id = organization_owner_id(context=context)
        if not page.flow.connections_chosen:
            form = ConnectionsForm(request.POST, connections=partner_connections(
                context=context, owner_id=owner_id
            ))  # fmt: skip
            if not form.is_valid():
                return _connections_page(request, page, form, status=422)
            chosen = form.chosen()
        else:
            chosen = None
        onboarding.share_connections(
            page.flow, context=AuditContext.from_request(request), owner_id=owner_id, chosen=chosen
        )
    except (claims.StepBusy, claims.FlowClosed) as exc:
        messages.warning(request, exc.message)
    except (PolytomicError, AuditUnavailable) as exc:
        messages.error(request, f"The connections step stopped: {exc.message}")
    return redirect("orgadmin:onboarding-detail", page.flow.pk)


def _administrators_page(
    request: HttpRequest, page: FlowPage, form: AdministratorsForm | None = None, *, status: int = 200
) -> HttpResponse:
    error = None
    if form is None:
        try:
            roles = onboarding.organization_roles(page.flow, context=AuditContext.from_request(request))
            form = AdministratorsForm(roles=roles, most=onboarding.MAX_ADMINISTRATORS)
        except (PolytomicError, AuditUnavailable) as exc:
            error = exc
    return render(
        request,
        "orgadmin/onboarding_administrators.html",
        {**detail_context(page), "form": form, "error": error},
        status=status,
    )


@require_POST
@permission_required(["orgadmin.add_organization", "orgadmin.manage_users"], raise_exception=True)
@never_cache
def onboarding_administrators(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Invites the administrators typed (with `emails`), or those not invited yet (a retry)."""
    page = flow_page(flow_id)
    if page.current != Step.ADMINISTRATORS or page.flow.status != Onboarding.Status.OPEN:
        return _not_this_step(request, page)
    try:
        emails, roles = [], []
        if "emails" in request.POST:
            form = AdministratorsForm(
                request.POST,
                roles=onboarding.organization_roles(page.flow, context=AuditContext.from_request(request)),
                most=onboarding.MAX_ADMINISTRATORS,
            )
            if not form.is_valid():
                return _administrators_page(request, page, form, status=422)
            emails, roles = form.cleaned_data["emails"], form.chosen_roles()
        onboarding.invite_administrators(
            page.flow, context=AuditContext.from_request(request), emails=emails, roles=roles
        )
    except (claims.StepBusy, claims.FlowClosed) as exc:
        messages.warning(request, exc.message)
    except (PolytomicError, AuditUnavailable) as exc:
        messages.error(request, f"The administrators step stopped: {exc.message}")
    else:
        if onboarding.current_step(page.flow, list(page.flow.tasks.all())) == Step.DONE:
            messages.success(request, "Onboarding done.")
    return redirect("orgadmin:onboarding-detail", page.flow.pk)


@require_POST
@permission_required("orgadmin.add_organization", raise_exception=True)
@never_cache
def onboarding_skip(request: HttpRequest, flow_id: int, task_id: int) -> HttpResponse:
    """Leaves a connection or an invitation that failed out of the flow."""
    page = flow_page(flow_id)
    if page.flow.status != Onboarding.Status.OPEN:
        return _not_this_step(request, page)
    try:
        task = onboarding.skip(page.flow, task_id, by=request.user)
    except (claims.StepBusy, claims.FlowClosed) as exc:
        messages.warning(request, exc.message)
        task = None
    if task is not None:
        messages.info(request, f"Left out: {task.label}.")
    return redirect("orgadmin:onboarding-detail", page.flow.pk)


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.add_organization", raise_exception=True)
@never_cache
def onboarding_abandon(request: HttpRequest, flow_id: int) -> HttpResponse:
    """Closes the flow. What it created stays at Polytomic, and the page says what, with links."""
    page = flow_page(flow_id)
    if request.method == "POST":
        try:
            abandoned = onboarding.abandon(page.flow, by=request.user)
        except DatabaseError:
            messages.error(request, "The onboarding could not be closed: the database did not answer. Try again.")
            return redirect("orgadmin:onboarding-abandon", page.flow.pk)
        if abandoned:
            messages.info(request, "Onboarding abandoned. What it created stays, as listed below.")
        return redirect("orgadmin:onboarding-detail", page.flow.pk)
    if page.flow.status != Onboarding.Status.OPEN:
        return redirect("orgadmin:onboarding-detail", page.flow.pk)
    return render(request, "orgadmin/onboarding_abandon.html", {"page": page, "flow": page.flow})


def _not_this_step(request: HttpRequest, page: FlowPage) -> HttpResponse:
    """A form of a step the flow is no longer at (another tab, another operator): nothing is sent."""
    messages.info(request, "This onboarding moved on meanwhile: nothing was sent. Here is where it stands.")
    return redirect(reverse("orgadmin:onboarding-detail", args=[page.flow.pk]))
