from __future__ import annotations

from django.urls import path

from orgadmin import views

app_name = "orgadmin"

urlpatterns = [
    path("", views.home, name="home"),
    path("organizations/", views.organization_list, name="organization-list"),
    path("organizations/new/", views.organization_create, name="organization-create"),
    path("organizations/<uuid:organization_id>/", views.organization_detail, name="organization-detail"),
    path("organizations/<uuid:organization_id>/edit/", views.organization_edit, name="organization-edit"),
    path("organizations/<uuid:organization_id>/delete/", views.organization_delete, name="organization-delete"),
    path("organizations/check-issuer/", views.issuer_check, name="issuer-check"),
    path("organizations/<uuid:organization_id>/users/", views.user_list, name="user-list"),
    path("organizations/<uuid:organization_id>/users/invite/", views.user_invite, name="user-invite"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/roles/", views.user_roles, name="user-roles"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/remove/", views.user_remove, name="user-remove"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/key/", views.user_key, name="user-key"),
    path("changes/", views.change_list, name="change-list"),
    path("changes/<int:change_id>/", views.change_detail, name="change-detail"),
    path("changes/<int:change_id>/decide/", views.change_decide, name="change-decide"),
    path("audit/", views.audit_list, name="audit-list"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("audit/<int:entry_id>/", views.audit_detail, name="audit-detail"),
]
