"""The portal's URLs plus one that renders nothing, for `benchmarks/cpu_pages.py` only: a signed-in
request that passes the pages' permission check and answers 204, so that the CPU of the
middleware, the session and the permission reads can be told from the pages' own."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.urls import handler403
from portal.urls import urlpatterns as portal_urlpatterns

__all__ = ["handler403", "urlpatterns"]


@require_GET
@permission_required("orgadmin.view_organization", raise_exception=True)
@never_cache
def nothing(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


urlpatterns = [path("_bench/nothing/", nothing), *portal_urlpatterns]
