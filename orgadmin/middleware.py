from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

from orgadmin import web

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


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
            return web.healthz(request)
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


class SetupHostMiddleware:
    """On the public host setup links point to (PORTAL_SETUP_LINK_BASE_URL), only the setup pages:
    any other path is not found there, whatever the load balancer in front lets through. The
    README shows the load balancer's own rule; this is the portal's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        base = settings.PORTAL_SETUP_LINK_BASE_URL
        self.host = urlsplit(base).netloc.lower() if base else ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.host and request.get_host().lower() == self.host and not request.path_info.startswith("/setup/"):
            return HttpResponseNotFound("Not found.", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
