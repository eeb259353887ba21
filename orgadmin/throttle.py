"""How failed sign-ins slow down password guessing (django-axes), without handing an attacker a
way to keep staff out.

Two limits, each a cool-off that ends by itself (`SIGNIN_COOLOFF_MINUTES` after the last
counted failure; failures during a pause are not counted, so hammering cannot extend it):

- `SIGNIN_FAILURE_LIMIT` failures for one username from one address pause that username there;
- `SIGNIN_USERNAME_FAILURE_LIMIT` failures for one username from all addresses together pause it
  everywhere, except on the browsers that user has signed in with before (a signed "known
  device" cookie, as OWASP's device cookies): guessing from many addresses is slowed down, and
  whoever triggers the pause cannot keep the account's owner out.
"""

from __future__ import annotations

import json
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse

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


def is_known_device(request: HttpRequest, username: str | None) -> bool:
    return bool(username) and username in _device_users(request)


def remember_device(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """Marks this browser as one `username` signed in with (called on each successful sign-in)."""
    users = [user for user in _device_users(request) if user != username]
    users = [username, *users][:DEVICE_USERS_KEPT]
    response.set_signed_cookie(
        settings.PORTAL_DEVICE_COOKIE_NAME,
        json.dumps(users),
        salt=DEVICE_SALT,
        max_age=settings.PORTAL_DEVICE_COOKIE_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _device_users(request: HttpRequest) -> list[str]:
    value = request.get_signed_cookie(
        settings.PORTAL_DEVICE_COOKIE_NAME, default=None, salt=DEVICE_SALT, max_age=settings.PORTAL_DEVICE_COOKIE_AGE
    )
    if value is None:  # none, or its signature does not hold, or it is too old
        return []
    try:
        users = json.loads(value)
    except ValueError:
        return []
    return [user for user in users if isinstance(user, str)] if isinstance(users, list) else []
