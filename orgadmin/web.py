"""What every page of the portal shares: the request type of an htmx view, the redirect htmx
follows, the page that says Polytomic (or the audit log) failed, the status a form page answers,
and the shell's own views (home, the 403 page, the health check).

The status policy every view follows:

- 200: the page rendered what it meant to render: an edit form held for confirmation, and a page
  that says plainly that Polytomic failed (no answer, 5xx, 429, an unreadable answer, its refusal
  of the partner key) or that the audit log could not record the call (so nothing was sent, or a
  read's answer is not shown), with what was typed kept. The portal handled those failures; they
  are in the audit log and the `orgadmin.security` log, not in its status codes;
- 422: a form with input the operator must correct (the portal's checks, or Polytomic's 409/422);
- 403, 404, 405 as Django means them.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from audit.protocol import AuditContext, AuditUnavailable
from audit.store import can_append
from orgadmin.form_parts import UpstreamErrorsMixin
from orgadmin.issuer_check import check_issuer
from orgadmin.organizations import queries
from orgadmin.organizations.lock import Busy
from orgadmin.polytomic.errors import PolytomicError, PolytomicValidationError
from orgadmin.polytomic.fields import SECRETS
from staff import recent_sign_in
from staff.forwarded_headers import client_ip

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect that htmx follows as a full page load, and a plain one without JavaScript."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def upstream_error_page(
    request: HttpRequest, error: PolytomicError | AuditUnavailable | Busy, *, title: str
) -> HttpResponse:
    """Polytomic failed, the audit log could not record the call, or another write of the
    organization went on for too long: the page says so plainly. A form posted here is kept, to be
    sent again as it was (the client secret excepted)."""
    kept = []
    if request.method == "POST":
        if isinstance(error, AuditUnavailable):  # a read before the write: its answer unused, and no write sent
            error = AuditUnavailable(nothing_sent=True)
        kept = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", *SECRETS)
            for value in values
        ]
    return render(request, "orgadmin/upstream_error.html", {"error": error, "title": title, "kept": kept})


def refused_on_form(
    form: UpstreamErrorsMixin, error: PolytomicError | AuditUnavailable, *, context: AuditContext, other_than: str = ""
) -> None:
    """Polytomic's refusal (or failure) placed on an organization form. A name taken links to
    the organization that holds it, looked up by name (`queries.organization_named`, an audited
    read); no link when none is found, or the lookup fails (its failure is in the audit log)."""
    holder = None
    if isinstance(error, PolytomicValidationError) and error.name_taken:
        try:
            holder = queries.organization_named(
                context=context, name=form.cleaned_data.get("name", ""), other_than=other_than
            )
        except (PolytomicError, AuditUnavailable):
            holder = None
    form.add_upstream_error(error, name_holder=holder)


def form_status(form: Form, error: PolytomicError | AuditUnavailable | None = None) -> int:
    """422 for input the operator must correct (Polytomic's refusal of it included); otherwise
    200, a failure of Polytomic's or of the audit log shown on the form."""
    if error is not None and not isinstance(error, PolytomicValidationError):
        return 200
    return 422 if form.is_bound and form.errors else 200


def submitted(request: HtmxHttpRequest) -> QueryDict | None:
    """What a form page shows: what was posted, or what was kept across a sign-in check (its
    secret to be typed again), or nothing."""
    return request.POST if request.method == "POST" else recent_sign_in.resume(request, request.path)


def held_by_issuer_check(form: Form, context: AuditContext) -> bool:
    """Checks the issuer a valid create form was given (`orgadmin.issuer_check`) before anything
    is sent: the form's own check, which works without JavaScript (the "Check the issuer" button
    asks the same with htmx). True when the form is held: the check failed (or could not be
    recorded) and the operator has not chosen to save anyway. The result is `form.check_result`."""
    form.check_result = None
    issuer = form.cleaned_data.get("issuer")
    if not issuer:
        return False
    try:
        form.check_result = check_issuer(issuer, context=context)
    except AuditUnavailable as exc:
        form.add_error(None, f"The issuer could not be checked: {exc.message}")
        return True
    return not form.check_result.passed and not form.cleaned_data.get("save_anyway", False)


# --- The shell: refusals, health ------------------------------------------------------------


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 403 page, after logging who was refused what."""
    user = getattr(request, "user", None)
    security_log.warning(
        "Permission refused: %s %s for %s from %s",
        request.method,
        request.path,
        user.get_username() if user is not None and user.is_authenticated else "anonymous",
        client_ip(request),
    )
    reason = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the database answers and an audit entry could be appended, 503 otherwise. Never
    calls Polytomic, needs no sign-in; answered by HealthCheckMiddleware before anything else looks
    at the request."""
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
        if not can_append():  # an append would wait past its timeout: out of the load balancer until it would not
            logger.warning("Health check: the audit log cannot take an entry")
            response = JsonResponse({"status": "unavailable", "database": "ok", "audit_log": "unavailable"}, status=503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("orgadmin:organization-list")
