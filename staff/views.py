"""The staff page: who can sign in to the portal, how, and their sessions, which an Admin can end."""

from __future__ import annotations

from allauth.account import views as account_views
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from staff.roles import ROLES
from staff.signals import end_sessions

app_name = "staff"


@require_GET
@permission_required("staff.end_staff_sessions", raise_exception=True)
@never_cache
def staff_list(request: HttpRequest) -> HttpResponse:
    User = get_user_model()
    users = (
        User.objects.order_by("username")
        .annotate(
            sessions=Count("usersession", distinct=True),
            from_identity_provider=Exists(SocialAccount.objects.filter(user=OuterRef("pk"))),
            second_factors=Count("authenticator", distinct=True),
        )
        .prefetch_related(Prefetch("groups", to_attr="role_groups"))
    )
    rows = [
        {"user": user, "roles": [group.name for group in user.role_groups if group.name in ROLES]} for user in users
    ]
    return render(request, "staff/staff_list.html", {"rows": rows})


@require_POST
@permission_required("staff.end_staff_sessions", raise_exception=True)
def staff_end_sessions(request: HttpRequest, staff_id: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=staff_id)
    ended = end_sessions(user, reason=f"ended by {request.user.get_username()}")
    messages.success(request, f"Ended {ended} session(s) of {user.get_username()}.")
    return redirect("staff:staff-list")


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    """allauth's password change, for accounts that have a password here: a staff member of the
    identity provider is told to change it there (allauth would send them to set one here)."""
    if not request.user.has_usable_password():
        return render(request, "staff/password_elsewhere.html", {"provider": settings.PORTAL_OIDC_LABEL})
    return account_views.password_change(request)


urlpatterns = [
    path("", staff_list, name="staff-list"),
    path("<int:staff_id>/end-sessions/", staff_end_sessions, name="staff-end-sessions"),
]
