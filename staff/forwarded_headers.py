"""What the reverse proxies in front of the portal say about a request, and when to believe them."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

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
    a trusted proxy: with `PORTAL_TRUSTED_PROXY_COUNT` set, from an address in `PORTAL_TRUSTED_PROXY_NETWORKS`
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


def client_ip(request: HttpRequest) -> str:
    """The address of the client, honouring `PORTAL_TRUSTED_PROXY_COUNT` proxies in front of the portal.

    Each proxy appends the address it received the request from to X-Forwarded-For, so with N
    trusted proxies the client is the N-th entry from the right; anything further left was sent by
    the client itself and may be forged. Without trusted proxies the header is ignored (and
    `ForwardedHeadersMiddleware` has dropped it). The one reading of the address: django-axes
    (AXES_CLIENT_IP_CALLABLE), django-allauth's rate limits and session list
    (`staff.adapters.StaffAccountAdapter.get_client_ip`), the security log and the audit log all
    take it from here, so that no limiter counts the proxy in place of its clients.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.PORTAL_TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return remote
    candidate = hops[-count] if len(hops) >= count else hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
