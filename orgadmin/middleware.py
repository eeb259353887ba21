from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from orgadmin import views

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
SESSION_STARTED_KEY = "portal_session_started"
SESSION_REFRESHED_KEY = "portal_session_refreshed"


class HealthCheckMiddleware:
    """Answers /healthz before anything else looks at the request.

    It must work for the container's own probe and for load balancers, which call the instance by
    its address over plain HTTP: host validation (ALLOWED_HOSTS), the HTTPS redirect and sign-in
    would each refuse them, so this runs ahead of all three.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH:
            return views.healthz(request)
        return self.get_response(request)


REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives each request an id, sent back as X-Request-ID, to Polytomic, and kept in the audit log.

    An id set by a trusted proxy in front of the portal is kept, so one id follows the request
    through the proxy's logs, the portal's and the audit log; otherwise a new one is made.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        trusted = settings.PORTAL_TRUSTED_PROXY_COUNT > 0 and REQUEST_ID_PATTERN.fullmatch(incoming)
        request.request_id = incoming if trusted else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


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
