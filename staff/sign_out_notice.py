"""Why a browser was signed out, told once on the sign-in page it lands on.

When an Admin (or the account's deactivation, or its last role's removal) ends a session, the
reason is kept in the shared cache (every worker and instance reads the same one: README,
`CACHE_URL`) under a digest of the ended session's key. That browser still sends the key in its
session cookie on its next request: the middleware finds the reason there, drops it, and shows it
as a message, which the sign-in page the request is sent to displays. A stale cookie costs one
cache read; a signed-in request none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def remember(session_keys: Iterable[str], notice: str) -> None:
    """Keeps `notice` for the browsers of these (ended) sessions, as long as their cookie could
    still be sent."""
    cache.set_many({_key(session_key): notice for session_key in session_keys}, settings.PORTAL_SESSION_MAX_AGE)


def take(session_key: str) -> str | None:
    """The notice kept for this ended session, once: it is dropped as it is read."""
    key = _key(session_key)
    notice = cache.get(key)
    if notice is not None:
        cache.delete(key)
    return notice


def _key(session_key: str) -> str:
    # A digest, so that the cache holds no session key that could be used.
    return "staff:signed-out:" + hashlib.sha256(session_key.encode()).hexdigest()


class SignedOutNoticeMiddleware:
    """After MessageMiddleware: a request that is not signed in but carries a session cookie may
    come from a browser whose session was ended; it is told why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if session_key and not request.user.is_authenticated:
            notice = take(session_key)
            if notice:
                messages.warning(request, notice)
        return self.get_response(request)
