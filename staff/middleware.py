"""With PORTAL_REQUIRE_MFA on, a staff member signed in with a local account's password sees
nothing but the enrolment of a second factor until they have one (and then uses it at every
sign-in: allauth asks for it after the password). Accounts of the identity provider are left to
its own second factor."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from staff import signin

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
