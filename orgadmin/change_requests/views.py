"""The four-eyes pages: the queue of change requests, a request with its decision, its withdrawal
by its requester, and the check at Polytomic of a request sent whose outcome is not known. The
rules live in the package's other modules; these views only call them (the status policy:
`orgadmin.web`)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.change_requests import requesting, resolving, sending
from orgadmin.change_requests.forms import ChangeDecisionForm
from orgadmin.change_requests.pending import why_approving_voids
from orgadmin.change_requests.steps import ChangeRequestClosed
from orgadmin.models import ChangeRequest
from orgadmin.organizations.queries import organization_get
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from staff import recent_sign_in

CHANGES_DECIDED_SHOWN = 20


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
    change = get_object_or_404(
        ChangeRequest.objects.select_related("requested_by", "decided_by", "setup_link"), pk=change_id
    )
    current, error, voids = None, None, ""
    if change.waiting:
        try:
            current = organization_get(
                context=AuditContext.from_request(request), organization_id=UUID(change.organization_id)
            )
        except PolytomicNotFound:
            voids = why_approving_voids(change, None)
        except (PolytomicError, AuditUnavailable) as exc:
            error = exc
        else:
            voids = why_approving_voids(change, current)
    return _change_page(
        request,
        change,
        current=current,
        error=error,
        voids=voids,
        form=ChangeDecisionForm(recent_sign_in.resume(request, request.path)),
    )


def _may_decide(request: HttpRequest, change: ChangeRequest) -> None:
    """Refuses (403) whoever lacks the permission that decides this request: an Admin's, or for a
    customer's setup link an Editor's (`ChangeRequest.deciding_permission`)."""
    if not request.user.has_perm(change.deciding_permission):
        raise PermissionDenied("You may not decide this change request.")


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def change_decide(request: HttpRequest, change_id: int) -> HttpResponse:
    """Approves (a recent sign-in check first) or rejects another's request."""
    approving = request.POST.get("decision") == "approve"
    form = ChangeDecisionForm(request.POST, rejecting=not approving)
    change = get_object_or_404(ChangeRequest, pk=change_id)
    _may_decide(request, change)
    if not form.is_valid():
        return _change_page(request, change, form=form, status=422)
    if approving and not recent_sign_in.is_recent(request):
        return recent_sign_in.ask(
            request, data=request.POST, secrets=(), back=reverse("orgadmin:change-detail", args=[change_id])
        )
    decide = sending.approve if approving else requesting.reject
    try:
        change = decide(
            context=AuditContext.from_request(request),
            change_request_id=change_id,
            comment=form.cleaned_data["comment"],
        )
    except ChangeRequestClosed as exc:
        messages.error(request, exc.message)
    except AuditUnavailable as exc:  # nothing was sent, or (OutcomeNotRecorded) what was sent
        messages.error(request, exc.message)
    else:
        messages.info(request, f"{change.status_shown}.")
    return redirect("orgadmin:change-detail", change_id)


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def change_withdraw(request: HttpRequest, change_id: int) -> HttpResponse:
    """Its requester withdraws a request still waiting; nobody else may."""
    change = get_object_or_404(ChangeRequest, pk=change_id)
    if change.requested_by_id != request.user.pk:
        raise PermissionDenied("Only its requester can withdraw a change request.")
    try:
        requesting.withdraw(context=AuditContext.from_request(request), change_request_id=change_id)
    except (ChangeRequestClosed, AuditUnavailable) as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, "Withdrawn: nothing was sent to Polytomic.")
    return redirect("orgadmin:change-detail", change_id)


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def change_check(request: HttpRequest, change_id: int) -> HttpResponse:
    """Finds out at Polytomic what became of a request sent whose outcome is not known."""
    _may_decide(request, get_object_or_404(ChangeRequest, pk=change_id))
    try:
        change = resolving.check(context=AuditContext.from_request(request), change_request_id=change_id)
    except ChangeRequestClosed as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, f"{change.status_shown}: {change.result}")
    return redirect("orgadmin:change-detail", change_id)


def _change_page(request, change, *, form, current=None, error=None, voids="", status=200) -> HttpResponse:
    """`voids`: why approving would void the request, shown instead of the Approve button."""
    user = request.user
    may_decide = user.has_perm(change.deciding_permission) and change.requested_by_id != user.pk
    context = {
        "change": change, "current": current, "error": error, "form": form, "voids": voids,
        "can_decide": may_decide and change.waiting,
        "can_check": may_decide and change.outcome_unknown,
        "can_withdraw": change.requested_by_id == user.pk and change.waiting,
    }  # fmt: skip
    return render(request, "orgadmin/change_detail.html", context, status=status)
