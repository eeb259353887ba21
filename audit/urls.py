"""The audit log's pages. Included by `orgadmin/urls.py` under `audit/`, so their names stay in the
`orgadmin` namespace (`orgadmin:audit-list`, `orgadmin:audit-detail`, `orgadmin:audit-export`,
`orgadmin:audit-organization-names`)
beside the pages that link to them."""

from __future__ import annotations

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.audit_list, name="audit-list"),
    path("export.csv", views.audit_export, name="audit-export"),
    path("organization-names/", views.audit_organization_names, name="audit-organization-names"),
    path("<int:entry_id>/", views.audit_detail, name="audit-detail"),
]
