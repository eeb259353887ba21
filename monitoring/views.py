"""The metrics page, for Prometheus: only from the networks PORTAL_METRICS_NETWORKS names, or with the
token PORTAL_METRICS_TOKEN (`Authorization: Bearer <token>`); neither set, nobody."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from monitoring.metrics import exposition

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")


def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not allowed(request):
        security_log.warning("Metrics refused to %s", request.META.get("REMOTE_ADDR", "-"))
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    try:
        body = exposition()
    except DatabaseError as exc:  # the database's state cannot be read: a scrape failure, not a page
        logger.warning("Metrics: the database could not be read (%s)", type(exc).__name__)
        return HttpResponse("The database could not be read\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def allowed(request: HttpRequest) -> bool:
    """From an allowed network (the connection's own address: no forwarded header counts), or
    with the token."""
    token = settings.PORTAL_METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.PORTAL_METRICS_NETWORKS)
