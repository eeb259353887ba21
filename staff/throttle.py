"""How failed sign-ins slow down password guessing (django-axes), without handing an attacker a
way to keep staff out.

Two limits, each a cool-off that ends by itself (`PORTAL_SIGNIN_COOLOFF_MINUTES` after the last
counted failure; failures during a pause are not counted, so hammering cannot extend it):

- `PORTAL_SIGNIN_FAILURE_LIMIT` failures for one username from one address pause that username there;
- `PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT` failures for one username from all addresses together pause it
  everywhere, except on the browsers that user has signed in with before, with the password
  they have now (a signed "known device" cookie, as OWASP's device cookies): guessing from many
  addresses is slowed down, and whoever triggers the pause cannot keep the account's owner out.
  The owner signing in there clears only the failures of their own address.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse

# The salt keeps the module's old name: a new one would void every browser's mark at once.
DEVICE_SALT = "orgadmin.throttle.known-device"
DEVICE_USERS_KEPT = 5  # staff who share a browser: the most recent few are remembered


class SignInThrottle(AxesDatabaseHandler):
    """django-axes' database handler with the two limits above.

    Its lockout parameters (settings.AXES_LOCKOUT_PARAMETERS) are username with address, then
    username alone; axes counts the failures of each, and this decides which limit applies.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        per_address, per_username = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        username = get_client_username(request, credentials)
        if per_username >= settings.PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT and not is_known_device(request, username):
            # Paused for this username everywhere: report the failures as the limit axes compares.
            return max(per_address, get_failure_limit(request, credentials))
        return per_address

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        """A sign-in clears the failures from its own address only (AXES_RESET_ON_SUCCESS is off):
        the owner signing in on their known browser must not clear the failures of whoever is
        guessing from elsewhere, and give them a fresh allowance."""
        super().user_logged_in(sender, request, user, **kwargs)
        AccessAttempt.objects.filter(username=user.get_username(), ip_address=request.axes_ip_address).delete()


def username_of(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username a sign-in is for: what authenticate() was given, or the sign-in form's "login"
    field (django-allauth's name for it)."""
    if credentials and credentials.get("username"):
        return credentials["username"]
    data = getattr(request, "POST", None) or {}
    return data.get("login") or data.get("username")


def is_known_device(request: HttpRequest, username: str | None) -> bool:
    """Whether this browser carries the mark of a sign-in as `username` with its current password."""
    if not username:
        return False
    tags = dict(_device_marks(request))
    if username not in tags:
        return False
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    return user is not None and hmac.compare_digest(tags[username], _credential_tag(user))


def remember_device(request: HttpRequest, response: HttpResponse, user: Any) -> None:
    """Marks this browser as one `user` signed in with (called on each successful sign-in). The
    mark is bound to the user's password: after it changes, an old mark counts for nothing."""
    username = user.get_username()
    marks = [[name, tag] for name, tag in _device_marks(request) if name != username]
    marks = [[username, _credential_tag(user)], *marks][:DEVICE_USERS_KEPT]
    response.set_signed_cookie(
        settings.PORTAL_DEVICE_COOKIE_NAME,
        json.dumps(marks),
        salt=DEVICE_SALT,
        max_age=settings.PORTAL_DEVICE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _credential_tag(user: Any) -> str:
    """A short keyed digest of the user's password hash (Django's session auth hash)."""
    return user.get_session_auth_hash()[:24]


def _device_marks(request: HttpRequest) -> list[tuple[str, str]]:
    value = request.get_signed_cookie(
        settings.PORTAL_DEVICE_COOKIE_NAME, default=None, salt=DEVICE_SALT, max_age=settings.PORTAL_DEVICE_COOKIE_AGE
    )
    if value is None:  # none, or its signature does not hold, or it is too old
        return []
    try:
        marks = json.loads(value)
    except ValueError:
        return []
    if not isinstance(marks, list):
        return []
    return [
        (mark[0], mark[1])
        for mark in marks
        if isinstance(mark, list) and len(mark) == 2 and all(isinstance(part, str) for part in mark)
    ]
