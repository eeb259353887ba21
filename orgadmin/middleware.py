from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
