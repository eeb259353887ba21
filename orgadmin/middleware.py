from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
SESSION_STARTED_KEY = "portal_session_started"
SESSION_REFRESHED_KEY = "portal_session_refreshed"


def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the database answers, 503 otherwise. Never calls Polytomic, needs no sign-in."""
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse({"detail": "Method not allowed"}, status=405)
        response["Allow"] = "GET, HEAD"
        return response
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("Health check: database unreachable (%s)", type(exc).__name__)
        response = JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    else:
        response = JsonResponse({"status": "ok", "database": "ok"})
    response["Cache-Control"] = "no-store"
    return response


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
            return healthz(request)
        return self.get_response(request)


# What a reverse proxy tells the portal about the request. From anything but a trusted proxy
# these are the client's own words, and are dropped before anything reads them.
FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_REQUEST_ID",
)
security_log = logging.getLogger("orgadmin.security")


class ForwardedHeadersMiddleware:
    """Keeps X-Forwarded-For, X-Forwarded-Proto and X-Request-ID only on requests that come from
    a trusted proxy: with `TRUSTED_PROXY_COUNT` set, from an address in `TRUSTED_PROXY_NETWORKS`
    (or from any address while that list is empty, which `check --deploy` warns about). Anyone
    who reaches gunicorn directly could otherwise choose the address the sign-in throttle and the
    audit log see, the scheme, and the request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not from_trusted_proxy(request):
            dropped = [name for name in FORWARDED_HEADERS if request.META.pop(name, None) is not None]
            if dropped and settings.PORTAL_TRUSTED_PROXY_COUNT > 0:
                security_log.warning(
                    "Forwarded headers from %s, which is not a trusted proxy, were ignored: %s",
                    request.META.get("REMOTE_ADDR", ""),
                    ", ".join(dropped),
                )
        return self.get_response(request)


def from_trusted_proxy(request: HttpRequest) -> bool:
    if settings.PORTAL_TRUSTED_PROXY_COUNT <= 0:
        return False
    networks = settings.PORTAL_TRUSTED_PROXY_NETWORKS
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


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
