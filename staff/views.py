"""The staff page: who can sign in to the portal, how, and their sessions, which an Admin can end."""

from __future__ import annotations

from datetime import timedelta

from allauth.account import views as account_views
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.sessions.models import Session
from django.db.models import Count, Exists, OuterRef, Prefetch, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext, AuditUnavailable
from staff import browsers
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
            from_identity_provider=Exists(SocialAccount.objects.filter(user=OuterRef("pk"))),
            second_factors=Count("authenticator", distinct=True),
        )
        .prefetch_related(Prefetch("groups", to_attr="role_groups"), _open_sessions())
    )
    rows = [
        {
            "user": user,
            "roles": [group.name for group in user.role_groups if group.name in ROLES],
            "sessions": _described(request, user.open_sessions),
        }
        for user in users
    ]
    return render(request, "staff/staff_list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@permission_required("staff.end_staff_sessions", raise_exception=True)
@never_cache
def staff_end_sessions(request: HttpRequest, staff_id: int) -> HttpResponse:
    """GET asks, listing the sessions; only the POST of that page's form (`confirmed`) ends them.
    An Admin may end their own: the page says it signs them out too (a lost laptop is a reason to
    sign out everywhere, this browser included, without waiting for another Admin)."""
    user = get_object_or_404(get_user_model().objects.prefetch_related(_open_sessions()), pk=staff_id)
    if request.method == "GET":
        sessions = _described(request, user.open_sessions)
        context = {"member": user, "sessions": sessions, "includes_this_one": any(s["current"] for s in sessions)}
        return render(request, "staff/end_sessions_confirm.html", context)
    if request.POST.get("confirmed") != "yes":
        return redirect("staff:staff-end-sessions", staff_id=user.pk)
    actor = request.user.get_username()
    try:
        audit_protocol.record(
            AuditContext.from_request(request),
            action=AuditEntry.Action.STAFF_END_SESSIONS,
            nothing_sent=True,
            what=f"the end of the sessions of {user.get_username()}",
            method="POST",
            path=request.path,
            request_body={"staff": user.get_username(), "sessions": len(user.open_sessions)},
        )
    except AuditUnavailable:
        messages.error(request, "The audit log is unavailable, so no session was ended. Try again in a moment.")
        return redirect("staff:staff-end-sessions", staff_id=user.pk)
    ended = end_sessions(
        user, reason=f"ended by {actor}", notice=f"You were signed out: {actor}, an Admin, ended your sessions."
    )
    messages.success(request, f"Ended {ended} session{pluralize(ended)} of {user.get_username()}.")
    return redirect("staff:staff-list")


def _open_sessions() -> Prefetch:
    """The member's sessions that have not expired (allauth keeps an expired one's record until its
    own list is shown), the last used first. A session's expiry is pushed back to the idle timeout
    at each use, to the minute (staff.middleware.SessionLifetimeMiddleware): its last use is that
    expiry less the timeout, read with the session, where allauth's USERSESSIONS_TRACK_ACTIVITY
    would write it on every request."""
    expiry = Session.objects.filter(session_key=OuterRef("session_key"), expire_date__gt=timezone.now())
    sessions = (
        UserSession.objects.annotate(expires=Subquery(expiry.values("expire_date")))
        .filter(expires__isnull=False)
        .order_by("-expires")
    )
    return Prefetch("usersession_set", queryset=sessions, to_attr="open_sessions")


def _described(request: HttpRequest, sessions: list[UserSession]) -> list[dict]:
    """Each session as the pages show it: last use, address, browser, and whether it is this one."""
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return [
        {
            "last_used": max(session.last_seen_at, session.expires - idle),
            "ip": session.ip,
            "browser": browsers.describe(session.user_agent),
            "current": session.session_key == request.session.session_key,
        }
        for session in sessions
    ]


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
