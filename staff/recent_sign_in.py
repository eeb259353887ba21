"""A fresh check before a change that can lock a customer out (a save that changes or removes
single sign-on, or sends OIDC credentials; a delete).

Such a change goes only if the staff member proved who they are within
PORTAL_RECENT_AUTHENTICATION_MINUTES: a local account with its second factor (at sign-in, or
since, through allauth's `mfa_reauthenticate`), or its password where it has no second factor (a
development setup without PORTAL_REQUIRE_MFA); an account of the identity provider at the
provider itself, with `max_age=0` and `prompt=login`, its ID token's `auth_time` checked
(`staff.adapters`). Otherwise the form's input is kept in the session, the secret left out, the
staff member checks again, and comes back to the form with it filled in. The feature names its
form's secret fields (`ask(..., secrets=...)`): this module knows no feature's form.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any
from urllib.parse import urlencode

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from staff import signin

PENDING_KEY = "staff.pending_form"
# The session key of the last time the identity provider itself authenticated the staff member.
IDP_AUTH_TIME_KEY = "staff.idp_auth_time"
RESUME = "resume"
# What a form keeps across the check, at most this long.
PENDING_SECONDS = 15 * 60
# Never kept, whatever the form: the token is the session's own, and a new one comes with the page.
NOT_KEPT = frozenset({"csrfmiddlewaretoken"})


def is_recent(request: HttpRequest) -> bool:
    """Whether the staff member proved who they are recently enough for a dangerous change."""
    if signin.is_local(request):
        factor = signin.SECOND_FACTOR if is_mfa_enabled(request.user) else signin.PASSWORD
        proved_at = signin.last_step_at(request, factor)
    else:
        proved_at = request.session.get(IDP_AUTH_TIME_KEY)
    return proved_at is not None and time.time() - proved_at < settings.PORTAL_RECENT_AUTHENTICATION_MINUTES * 60


def ask(request: HttpRequest, *, data: QueryDict, secrets: Collection[str], back: str) -> HttpResponse:
    """Keeps the posted form, its `secrets` (the names of its secret fields) left out, and shows
    how to check again; the check leads back to `back`, where `resume` gives the form its input
    again. `secrets` has no default: a caller must say which of its fields never reach the session."""
    kept = {name: data.getlist(name) for name in data if name not in NOT_KEPT and name not in secrets}
    request.session[PENDING_KEY] = {"path": back, "data": kept, "at": time.time()}
    return_to = f"{back}?{RESUME}=1"
    context: dict[str, Any] = {"return_to": return_to, "minutes": settings.PORTAL_RECENT_AUTHENTICATION_MINUTES}
    if signin.is_local(request):
        methods = get_account_adapter(request).get_reauthentication_methods(request.user)
        context["methods"] = [
            {"description": method["description"], "url": f"{method['url']}?{urlencode({'next': return_to})}"}
            for method in methods
        ]
    else:
        login = reverse("openid_connect_login", kwargs={"provider_id": "company"})
        context["provider_url"] = f"{login}?{urlencode({'process': 'redirect', 'next': return_to})}"
        context["provider_label"] = settings.PORTAL_OIDC_LABEL
    return render(request, "staff/check_again.html", context)


def resume(request: HttpRequest, path: str) -> QueryDict | None:
    """The form input kept for `path` before a check, once; None when there is none (or it is too old)."""
    if RESUME not in request.GET:
        return None
    pending = request.session.pop(PENDING_KEY, None)
    if not pending or pending.get("path") != path or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    data = QueryDict(mutable=True)
    for name, values in pending["data"].items():
        data.setlist(name, values)
    return data
