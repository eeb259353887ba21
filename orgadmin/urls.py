from __future__ import annotations

from django.urls import include, path

from orgadmin import change_request_views, onboarding_views, views

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
    path("onboarding/", onboarding_views.onboarding_list, name="onboarding-list"),
    path("onboarding/new/", onboarding_views.onboarding_new, name="onboarding-new"),
    path("onboarding/<int:flow_id>/", onboarding_views.onboarding_detail, name="onboarding-detail"),
    path("onboarding/<int:flow_id>/organization/", onboarding_views.onboarding_organization, name="onboarding-org"),
    path(
        "onboarding/<int:flow_id>/connections/", onboarding_views.onboarding_connections, name="onboarding-connections"
    ),
    path(
        "onboarding/<int:flow_id>/administrators/",
        onboarding_views.onboarding_administrators,
        name="onboarding-administrators",
    ),
    path(
        "onboarding/<int:flow_id>/tasks/<int:task_id>/skip/", onboarding_views.onboarding_skip, name="onboarding-skip"
    ),
    path("onboarding/<int:flow_id>/abandon/", onboarding_views.onboarding_abandon, name="onboarding-abandon"),
    path("changes/", change_request_views.change_list, name="change-list"),
    path("changes/<int:change_id>/", change_request_views.change_detail, name="change-detail"),
    path("changes/<int:change_id>/decide/", change_request_views.change_decide, name="change-decide"),
    path("changes/<int:change_id>/check/", change_request_views.change_check, name="change-check"),
    path("audit/", include("audit.urls")),
]
