"""How django-allauth's sign-in flows fit the portal.

- Nobody signs up: local accounts are made by an Admin; staff from the identity provider get an
  account at their first sign-in, identified by the issuer and subject of their ID token.
- At every sign-in through the identity provider, the staff member's roles are set from the groups
  it names (`roles_from_groups`): a group removed there removes the role here, and with no mapped
  group the sign-in ends on a page that says whom to ask, with no session.
- The ID token must carry back the nonce its sign-in sent (`staff.identity`), and a sign-in asked
  for a fresh check (`max_age`) must be a fresh one of the same staff member (`auth_time`).
- Failed passwords are counted by django-axes (staff/throttle.py), not by allauth as well: two
  counts of one thing would pause the owner of an account where django-axes, on purpose, does not.
  allauth's limit on second-factor codes stays (ACCOUNT_RATE_LIMITS).
- allauth's limits by address, and the address it keeps of each session, take the client's
  address from `staff.forwarded_headers.client_ip`, as django-axes and the audit log do: behind the proxy
  its own reading (ALLAUTH_TRUSTED_PROXY_COUNT, unset) would count every client as the proxy.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.adapter import get_adapter as get_socialaccount_adapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from staff.encryption import fernet
from staff.forwarded_headers import client_ip
from staff.recent_sign_in import IDP_AUTH_TIME_KEY
from staff.roles import ROLES

# The session key of the ID token of the staff member's sign-in at the identity provider.
ID_TOKEN_KEY = "staff.id_token"  # noqa: S105 (a session key's name)

security_log = logging.getLogger("orgadmin.security")

# How far the identity provider's clock may be behind ours when it says when it authenticated.
CLOCK_SKEW_SECONDS = 60


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """django-axes counts failed passwords (see the module's docstring)."""

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address allauth's rate limits count and its session list shows: the portal's one
        reading of it, from PORTAL_TRUSTED_PROXY_COUNT and PORTAL_TRUSTED_PROXY_NETWORKS (see the module's
        docstring). Like allauth's own, it refuses a request without one."""
        address = client_ip(request)
        if not address:
            raise PermissionDenied("Unable to determine client IP address")
        return address

    def get_logout_redirect_url(self, request: HttpRequest) -> str:
        """After signing out here, out of the identity provider too, where it offers an end-session
        endpoint (OpenID Connect RP-Initiated Logout); then back to the portal's sign-in."""
        after = super().get_logout_redirect_url(request)
        id_token = request.session.get(ID_TOKEN_KEY) if hasattr(request, "session") else None
        if not id_token:
            return after
        try:
            provider = get_socialaccount_adapter().get_provider(request, "company")
            end_session = provider.get_oauth2_adapter(request).openid_config.get("end_session_endpoint")
        except Exception as exc:  # the provider unreachable or gone from the settings: sign out here alone
            security_log.warning("Signing out at the identity provider too failed: %s", type(exc).__name__)
            return after
        if not end_session:
            return after
        return f"{end_session}?" + urlencode(
            {
                "id_token_hint": id_token,
                "client_id": provider.app.client_id,
                "post_logout_redirect_uri": request.build_absolute_uri(after),
            }
        )

    def get_reauthentication_methods(self, user: Any) -> list[dict]:
        """A local account confirms a dangerous change with its second factor, not its password."""
        methods = super().get_reauthentication_methods(user)
        second_factors = [method for method in methods if method["id"].startswith("mfa_reauthenticate")]
        return second_factors or methods


class StaffSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True  # the identity provider vouches for them; their roles decide what they see

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        claims = sociallogin.account.extra_data.get("id_token") or {}
        state = sociallogin.state or {}
        if not state.get("nonce") or claims.get("nonce") != state["nonce"]:
            refuse(request, "The identity provider's answer does not belong to this sign-in (its nonce differs).")
        if state.get("process") == AuthProcess.REDIRECT:
            _check_fresh(request, sociallogin, claims, since=state.get("fresh_since"))
        roles = roles_from_groups(groups_claim(sociallogin.account.extra_data))
        username = sociallogin.user.get_username() if sociallogin.is_existing else claims.get("sub", "")
        if not roles:
            if sociallogin.is_existing:
                set_roles(sociallogin.user, [])
            security_log.warning(
                "Sign-in refused: %s from %s has no group that gives a role", username, client_ip(request)
            )
            raise ImmediateHttpResponse(no_access(request))
        if sociallogin.is_existing:
            set_roles(sociallogin.user, roles)
        # For the session, once signed in (signals.py); a fresh check signs no one in: at once.
        sociallogin.portal_session = {
            IDP_AUTH_TIME_KEY: claims.get("auth_time"),
            ID_TOKEN_KEY: getattr(sociallogin, "id_token", ""),
        }
        if state.get("process") == AuthProcess.REDIRECT:
            request.session.update(sociallogin.portal_session)

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        set_roles(user, roles_from_groups(groups_claim(sociallogin.account.extra_data)))
        return user

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict) -> Any:
        user = super().populate_user(request, sociallogin, data)
        # A name to show and to find in the audit log; allauth makes it unique if it is taken.
        if not user.get_username():
            user.username = (data.get("email") or "").partition("@")[0] or "staff"
        return user

    def on_authentication_error(self, request: HttpRequest, provider: Any, error: Any = None, **kwargs: Any) -> None:
        exception = kwargs.get("exception")
        security_log.warning(
            "Sign-in through the identity provider failed from %s: %s%s",
            client_ip(request),
            error,
            f" ({type(exception).__name__}: {exception})" if exception is not None else "",
        )


def _check_fresh(request: HttpRequest, sociallogin: SocialLogin, claims: dict, *, since: int | None) -> None:
    """A fresh check must be of the staff member already signed in, and fresh at the provider."""
    if since is None:
        refuse(request, "This sign-in was not asked for by the portal.")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not sociallogin.is_existing or sociallogin.user.pk != user.pk:
        refuse(request, "The identity provider signed in someone else than the staff member checking again.")
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float) or auth_time < since - CLOCK_SKEW_SECONDS:
        refuse(request, "The identity provider did not ask you to sign in again.")
    if auth_time > time.time() + CLOCK_SKEW_SECONDS:
        refuse(request, "The identity provider's time of sign-in lies in the future.")


def groups_claim(extra_data: dict) -> list[str]:
    """The staff member's groups, from the userinfo answer or else the ID token."""
    name = settings.PORTAL_OIDC_GROUPS_CLAIM
    for source in (extra_data.get("userinfo") or {}, extra_data.get("id_token") or {}):
        value = source.get(name)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [group for group in value if isinstance(group, str)]
    return []


def roles_from_groups(groups: list[str]) -> list[str]:
    """The roles the groups give, by PORTAL_OIDC_ROLE_GROUPS."""
    mapped = settings.PORTAL_OIDC_ROLE_GROUPS
    return [role for role in ROLES if set(mapped.get(role, ())) & set(groups)]


def set_roles(user: Any, roles: list[str]) -> None:
    """Makes the user's role groups exactly `roles` (signals.py ends their sessions if none is left)."""
    current = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if current == set(roles):
        return
    user.groups.remove(*Group.objects.filter(name__in=current - set(roles)))
    user.groups.add(*Group.objects.filter(name__in=set(roles) - current))


def no_access(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/no_access.html", {"contact": settings.PORTAL_ACCESS_CONTACT}, status=403)


def refuse(request: HttpRequest, reason: str) -> None:
    security_log.warning("Sign-in refused from %s: %s", client_ip(request), reason)
    raise ImmediateHttpResponse(render(request, "staff/sign_in_refused.html", {"reason": reason}, status=400))


MFA_SECRETS = "staff.mfa-secrets"  # the purpose the encryption key is derived for


class StaffMFAAdapter(DefaultMFAAdapter):
    """Second-factor secrets (authenticator-app keys, the seed of recovery codes) are stored
    encrypted (`staff.encryption`): a copy of the database alone does not give anyone the codes,
    and rotating SECRET_KEY as Django documents keeps them."""

    def encrypt(self, text: str) -> str:
        return fernet(MFA_SECRETS).encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return fernet(MFA_SECRETS).decrypt(encrypted_text.encode()).decode()

    def send_notification_mail(self, template_prefix: str, user: Any, context: Any = None, email: Any = None) -> None:
        """The portal sends no mail: a change of a staff member's second factors goes to the
        security log."""
        security_log.info("Second factor of %s: %s", user.get_username(), template_prefix.rsplit("/", 1)[-1])
