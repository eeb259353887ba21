"""The sign-in URLs: django-allauth's views the portal uses, and no others (no sign-up, no email
management, no password reset by email: local accounts are an Admin's to make and to reset), and
the staff page. Mounted at /accounts/ (portal/urls.py)."""

from __future__ import annotations

from allauth.account import views as account
from allauth.mfa.base import views as mfa
from allauth.mfa.recovery_codes import views as recovery_codes
from allauth.mfa.totp import views as totp
from allauth.mfa.webauthn import views as webauthn
from allauth.socialaccount import views as socialaccount
from django.conf import settings
from django.urls import path
from django.views.decorators.http import require_http_methods

from staff import identity, views

# allauth's form views treat PUT as POST; the portal's pages accept only the methods they document.
get_or_post = require_http_methods(["GET", "POST"])

urlpatterns = [
    path("login/", get_or_post(account.login), name="account_login"),
    path("logout/", get_or_post(account.logout), name="account_logout"),
    path("inactive/", account.account_inactive, name="account_inactive"),
    # A second factor: enrolled, used at sign-in, and asked again before a dangerous change.
    path("2fa/", mfa.index, name="mfa_index"),
    path("2fa/authenticate/", get_or_post(mfa.authenticate), name="mfa_authenticate"),
    path("2fa/reauthenticate/", get_or_post(mfa.reauthenticate), name="mfa_reauthenticate"),
    path("2fa/totp/activate/", get_or_post(totp.activate_totp), name="mfa_activate_totp"),
    path("2fa/totp/deactivate/", get_or_post(totp.deactivate_totp), name="mfa_deactivate_totp"),
    path("2fa/recovery-codes/", recovery_codes.view_recovery_codes, name="mfa_view_recovery_codes"),
    path(
        "2fa/recovery-codes/generate/",
        get_or_post(recovery_codes.generate_recovery_codes),
        name="mfa_generate_recovery_codes",
    ),
    path("2fa/webauthn/", webauthn.list_webauthn, name="mfa_list_webauthn"),
    path("2fa/webauthn/add/", get_or_post(webauthn.add_webauthn), name="mfa_add_webauthn"),
    path(
        "2fa/webauthn/reauthenticate/",
        get_or_post(webauthn.reauthenticate_webauthn),
        name="mfa_reauthenticate_webauthn",
    ),
    path("2fa/webauthn/keys/<int:pk>/remove/", get_or_post(webauthn.remove_webauthn), name="mfa_remove_webauthn"),
    path("2fa/webauthn/keys/<int:pk>/edit/", get_or_post(webauthn.edit_webauthn), name="mfa_edit_webauthn"),
    # The company's identity provider.
    path("oidc/<str:provider_id>/login/", get_or_post(identity.login), name="openid_connect_login"),
    path("oidc/<str:provider_id>/login/callback/", get_or_post(identity.callback), name="openid_connect_callback"),
    path("3rdparty/login/cancelled/", socialaccount.login_cancelled, name="socialaccount_login_cancelled"),
    path("3rdparty/login/error/", socialaccount.login_error, name="socialaccount_login_error"),
    path("3rdparty/signup/", get_or_post(socialaccount.signup), name="socialaccount_signup"),
]

if settings.PORTAL_LOCAL_SIGNIN:
    urlpatterns += [
        path("reauthenticate/", get_or_post(account.reauthenticate), name="account_reauthenticate"),
        path("password/change/", get_or_post(views.password_change), name="account_change_password"),
    ]
