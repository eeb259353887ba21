"""What a signed-in staff member's requests pass through: the session's lifetime, and the
second factor a local account must have.

With PORTAL_REQUIRE_MFA on, a staff member signed in with a local account's password sees
nothing but the enrolment of a second factor until they have one (and then uses it at every
sign-in: allauth asks for it after the password). Accounts of the identity provider are left to
its own second factor."""

from __future__ import annotations

import time
from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from staff import signin

SESSION_STARTED_KEY = "portal_session_started"
SESSION_REFRESHED_KEY = "portal_session_refreshed"

# What a local account may reach before it has a second factor: enrolling one, and signing out.
ENROLMENT = frozenset(
    {
        "mfa_index",
        "mfa_activate_totp",
        "mfa_add_webauthn",
        "mfa_reauthenticate",
        "mfa_reauthenticate_webauthn",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "account_reauthenticate",
        "account_logout",
    }
)


class SecondFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.PORTAL_REQUIRE_MFA and _needs_a_second_factor(request):
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name not in ENROLMENT:
                messages.warning(
                    request,
                    "Set up a second factor first: an authenticator app, or a security key. "
                    "Every local account of the portal needs one.",
                )
                return redirect("mfa_index")
        return self.get_response(request)


def _needs_a_second_factor(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated and signin.is_local(request) and not is_mfa_enabled(user)


class SessionLifetimeMiddleware:
    """Ends a session `PORTAL_SESSION_MAX_AGE` seconds after sign-in, however active it has been,
    and keeps an active session alive for the idle timeout (SESSION_COOKIE_AGE).

    Django has no absolute maximum, hence this. For the idle timeout, Django's own
    SESSION_SAVE_EVERY_REQUEST would write the session to the database on every page; instead
    an active session is saved, with a new expiry, at most once every `PORTAL_SESSION_REFRESH`
    seconds, so the idle timeout holds to within that. Runs after AuthenticationMiddleware and
    before LoginRequiredMiddleware, which then sends the signed-out request to the sign-in page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            started = request.session.setdefault(SESSION_STARTED_KEY, now)
            if now - started > settings.PORTAL_SESSION_MAX_AGE:
                logout(request)
                messages.info(request, "Your session has reached its maximum length. Please sign in again.")
            elif now - request.session.get(SESSION_REFRESHED_KEY, 0) >= settings.PORTAL_SESSION_REFRESH:
                request.session[SESSION_REFRESHED_KEY] = now  # saved, and its expiry pushed back
        return self.get_response(request)
