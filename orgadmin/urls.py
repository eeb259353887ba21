from __future__ import annotations

from django.urls import path

from orgadmin import views

app_name = "orgadmin"

urlpatterns = [
    path("", views.home, name="home"),
    path("organizations/", views.organization_list, name="organization-list"),
    path("audit/", views.audit_list, name="audit-list"),
]
