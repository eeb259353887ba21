"""The page that answers "what is this id?": the header's search box lands here."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin.lookup import queries
from orgadmin.lookup.forms import FindForm
from orgadmin.polytomic.errors import PolytomicError
from orgadmin.web import HtmxHttpRequest


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def find(request: HtmxHttpRequest) -> HttpResponse:
    asked = request.GET.get("id", "").strip()[:200]
    form = FindForm({"id": asked} if asked else None)
    found, error, status = None, None, 200
    if form.is_bound and form.is_valid():
        try:
            found = queries.find(context=AuditContext.from_request(request), entity_id=form.cleaned_data["id"])
        except (PolytomicError, AuditUnavailable) as exc:
            error = exc
    elif form.is_bound:
        status = 422
    looked_up = form.is_bound and not form.errors and error is None
    context = {"form": form, "asked": asked, "found": found, "error": error, "looked_up": looked_up}
    return render(request, "orgadmin/find.html", context, status=status)
