"""An organization's Connections page: which of the partner's connections are shared into it, and
(for those who may change organizations) a form to share more."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin import outcomes
from orgadmin.connections import queries, services
from orgadmin.connections.forms import ShareForm
from orgadmin.organizations.queries import organization_get, organization_owner_id
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.web import HtmxHttpRequest, form_status, upstream_error_page


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def connection_list(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    if request.method == "POST" and not request.user.has_perm("orgadmin.change_organization"):
        raise PermissionDenied("Only Editors and Admins share connections.")
    context = AuditContext.from_request(request)
    try:
        organization = organization_get(context=context, organization_id=organization_id)
        owner_id = organization_owner_id(context=context)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return redirect("orgadmin:organization-list")
    except (PolytomicError, AuditUnavailable) as exc:
        return upstream_error_page(request, exc, title="Connections")
    page = {"organization": organization, "is_owner": organization.id == owner_id, "shares": None, "error": None}
    if page["is_owner"]:  # the partner's own organization: its connections are the ones shared out
        return render(request, "orgadmin/connection_list.html", page)
    # Shares whose answer was lost are found out before the list is read, so it shows them.
    outcomes.resolve_pending(context=context, organization_id=organization.id, action=outcomes.Action.CONNECTION_SHARE)
    try:
        shares = queries.shares_into(context=context, owner_id=owner_id, organization_id=organization.id)
    except (PolytomicError, AuditUnavailable) as exc:
        return render(request, "orgadmin/connection_list.html", page | {"error": exc})
    form = ShareForm(request.POST if request.method == "POST" else None, connections=shares.not_shared)
    if request.method == "POST" and form.is_valid():
        results = services.share(
            context=context, owner_id=owner_id, organization_id=organization.id, connections=form.chosen(),
            form_key=form.cleaned_data["form_key"],
        )  # fmt: skip
        _tell(request, results)
        return redirect(reverse("orgadmin:connection-list", args=[organization_id]))
    return render(request, "orgadmin/connection_list.html", page | {"shares": shares, "form": form},
                  status=form_status(form))  # fmt: skip


def _tell(request: HtmxHttpRequest, results: list[services.Shared]) -> None:
    if shared := [r.connection.name for r in results if r.shared]:
        messages.success(request, f"Shared {', '.join(shared)}.")
    if unknown := [r.connection.name for r in results if r.unknown]:
        messages.warning(
            request, f"Polytomic may have shared {', '.join(unknown)}: no answer came back. The list below shows "
            "it once Polytomic has it; sharing it again does not make a second copy.",
        )  # fmt: skip
    for result in results:
        if not result.shared and not result.unknown:
            messages.error(request, f"{result.connection.name} was not shared: {result.reason}")
