from __future__ import annotations

from django.urls import include, path

from orgadmin import web
from orgadmin.change_requests import views as change_requests
from orgadmin.connections import views as connections
from orgadmin.lookup import views as lookup
from orgadmin.onboarding import views as onboarding
from orgadmin.organizations import views as organizations
from orgadmin.people import views as people
from orgadmin.setup_links import views as setup_links

app_name = "orgadmin"

urlpatterns = [
    path("", web.home, name="home"),
    path("organizations/", organizations.organization_list, name="organization-list"),
    path("organizations/new/", organizations.organization_create, name="organization-create"),
    path("organizations/<uuid:organization_id>/", organizations.organization_detail, name="organization-detail"),
    path("organizations/<uuid:organization_id>/edit/", organizations.organization_edit, name="organization-edit"),
    path("organizations/<uuid:organization_id>/delete/", organizations.organization_delete, name="organization-delete"),
    path("organizations/check-issuer/", organizations.issuer_check, name="issuer-check"),
    path("organizations/<uuid:organization_id>/connections/", connections.connection_list, name="connection-list"),
    path("organizations/<uuid:organization_id>/setup-links/", setup_links.link_list, name="setup-links"),
    path(
        "organizations/<uuid:organization_id>/setup-links/<int:link_id>/revoke/",
        setup_links.link_revoke,
        name="setup-link-revoke",
    ),
    path("organizations/<uuid:organization_id>/users/", people.user_list, name="user-list"),
    path("organizations/<uuid:organization_id>/users/invite/", people.user_invite, name="user-invite"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/roles/", people.user_roles, name="user-roles"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/remove/", people.user_remove, name="user-remove"),
    path("organizations/<uuid:organization_id>/users/<uuid:user_id>/key/", people.user_key, name="user-key"),
    path("onboarding/", onboarding.onboarding_list, name="onboarding-list"),
    path("onboarding/new/", onboarding.onboarding_new, name="onboarding-new"),
    path("onboarding/<int:flow_id>/", onboarding.onboarding_detail, name="onboarding-detail"),
    path("onboarding/<int:flow_id>/organization/", onboarding.onboarding_organization, name="onboarding-org"),
    path("onboarding/<int:flow_id>/connections/", onboarding.onboarding_connections, name="onboarding-connections"),
    path(
        "onboarding/<int:flow_id>/administrators/",
        onboarding.onboarding_administrators,
        name="onboarding-administrators",
    ),
    path("onboarding/<int:flow_id>/tasks/<int:task_id>/skip/", onboarding.onboarding_skip, name="onboarding-skip"),
    path("onboarding/<int:flow_id>/abandon/", onboarding.onboarding_abandon, name="onboarding-abandon"),
    path("find/", lookup.find, name="find"),
    path("changes/", change_requests.change_list, name="change-list"),
    path("changes/<int:change_id>/", change_requests.change_detail, name="change-detail"),
    path("changes/<int:change_id>/decide/", change_requests.change_decide, name="change-decide"),
    path("changes/<int:change_id>/withdraw/", change_requests.change_withdraw, name="change-withdraw"),
    path("changes/<int:change_id>/check/", change_requests.change_check, name="change-check"),
    path("audit/", include("audit.urls")),
]
