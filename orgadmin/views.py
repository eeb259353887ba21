from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("orgadmin:organization-list")


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
def organization_list(request: HttpRequest) -> HttpResponse:
    return render(request, "orgadmin/organization_list.html")


@require_GET
@permission_required("orgadmin.view_audit_log", raise_exception=True)
def audit_list(request: HttpRequest) -> HttpResponse:
    return render(request, "orgadmin/audit_list.html")
