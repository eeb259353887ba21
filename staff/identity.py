"""The company's identity provider: django-allauth's OpenID Connect provider, with what it leaves out.

allauth runs the authorization code flow with PKCE and `state`, and checks the ID token's issuer,
audience and expiry. On top of it, here:

- a `nonce` is sent with each sign-in and kept with its `state`; `adapters.StaffSocialAccountAdapter`
  refuses an ID token that does not carry it back (OpenID Connect Core 1.0, 3.1.2.1 and 3.1.3.7);
- the ID token's signature is checked against the provider's published keys always, not only when
  the token came some other way than straight from the token endpoint (`staff.allauth_internals`);
- an account is the issuer and the subject together (`extract_uid`), never an email;
- a fresh check of a signed-in staff member (allauth's "redirect" process: nobody is signed in
  again, `staff.recent_sign_in`) asks the provider to authenticate them anew (`prompt=login`,
  `max_age=0`) and records when it asked, for the adapter to hold the ID token's `auth_time` to it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse

from staff.allauth_internals import SignatureCheckingAdapter


class CompanyIdentityAdapter(SignatureCheckingAdapter):
    def complete_login(self, request: HttpRequest, app: Any, token: Any, **kwargs: Any) -> Any:
        login = super().complete_login(request, app, token, **kwargs)
        # Kept for signing out at the provider too (its end-session endpoint takes it as a hint).
        login.id_token = kwargs["response"].get("id_token", "")
        return login


class CompanyIdentityProvider(OpenIDConnectProvider):
    oauth2_adapter_class = CompanyIdentityAdapter

    def redirect(self, request: HttpRequest, process: Any, next_url: str | None = None, data: Any = None, **kwargs):
        auth_params = dict(kwargs.pop("auth_params", None) or self.get_auth_params())
        nonce = secrets.token_urlsafe(32)
        auth_params["nonce"] = nonce
        if process == AuthProcess.REDIRECT:
            auth_params.update(prompt="login", max_age="0")
            kwargs["fresh_since"] = int(time.time())
        return super().redirect(request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs)

    def extract_uid(self, data: dict) -> str:
        """The issuer and the subject: the subject alone is unique only within one issuer."""
        claims = data.get("id_token") or {}
        uid = f"{claims.get('iss', '')} {claims.get('sub', '')}"
        if not claims.get("iss") or not claims.get("sub"):
            raise OAuth2Error("The ID token names no issuer or no subject.")
        if len(uid) > socialaccount_settings.UID_MAX_LENGTH:
            return "sha256:" + hashlib.sha256(uid.encode()).hexdigest()
        return uid


# allauth's OpenID Connect views build its own adapter, not the provider's: these build ours.
@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2LoginView.adapter_view(CompanyIdentityAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such identity provider.") from None


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2CallbackView.adapter_view(CompanyIdentityAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such identity provider.") from None
