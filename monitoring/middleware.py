"""`/metrics`, answered before anything else looks at the request, as `/healthz` is: Prometheus
scrapes each instance by its address over plain HTTP, which host validation, the HTTPS redirect
and sign-in would each refuse."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from monitoring import views

METRICS_PATH = "/metrics"


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == METRICS_PATH:
            return views.metrics(request)
        return self.get_response(request)
