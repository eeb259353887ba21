"""The pages a customer's IT admin sees through a setup link: no staff sign-in, its own URL prefix
(/setup/, which alone may be exposed on a public host), its own strict Content Security Policy (its
one inline style by nonce, its one script from /setup/check.js, nothing from elsewhere), no cookie
set, no referrer sent, nothing cached. The token in the URL is the only credential, so the forms
carry no CSRF token (a forged post needs the token, and with it could post anyway). A wrong, used,
expired or revoked token gets one plain page; an address that presents too many gets a 429 for an
hour."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from csp.constants import NONCE, NONE, SELF
from csp.decorators import csp
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from audit.protocol import AuditUnavailable
from orgadmin.change_requests.requesting import AlreadyWaiting
from orgadmin.issuer_check import IssuerCheck
from orgadmin.models import SetupLink
from orgadmin.organizations import field_rules
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.polytomic.fields import BY_NAME
from orgadmin.setup_links import customer
from orgadmin.setup_links.forms import SetupForm
from orgadmin.setup_links.links import LinkClosed

logger = logging.getLogger(__name__)

POLICY = {
    "default-src": [NONE],
    "style-src": [NONCE],
    "script-src": [SELF],
    "connect-src": [SELF],
    "form-action": [SELF],
    "img-src": [NONE],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
}

NOT_TAKEN = (
    "Your entry could not be taken just now, so nothing was saved. Try again in a few minutes; if it keeps "
    "failing, tell your contact."
)


def public(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """What every setup page is: open without sign-in, without CSRF cookie, never cached, no
    referrer, its own policy."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return login_not_required(csrf_exempt(never_cache(csp(POLICY)(wrapped))))


def _refused(request: HttpRequest, refused: customer.Refused) -> HttpResponse:
    status = 429 if refused.limited else 404
    return render(request, "setup_links/refused.html", _page(limited=refused.limited), status=status)


def _page(**context: Any) -> dict[str, Any]:
    return {"partner": settings.PORTAL_PARTNER_NAME, **context}


@public
@require_http_methods(["GET", "POST"])
def setup_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = customer.found(request, token)
    except customer.Refused as refused:
        return _refused(request, refused)
    context = customer.customer_context(request, link)
    if request.method == "GET":
        with contextlib.suppress(AuditUnavailable):  # logged by audit.protocol.record; the next opening records it
            customer.opened(context, link)
        return _form_page(request, link, SetupForm())
    form = SetupForm(request.POST)
    if not form.is_valid():
        return _form_page(request, link, form, status=422)
    entered = form.cleaned_data
    try:
        check = customer.checked(context, link, entered["issuer"])
    except AuditUnavailable:
        form.add_error(None, NOT_TAKEN)
        return _form_page(request, link, form, status=503)
    if not check.passed and not entered.get("submit_anyway"):
        return _form_page(request, link, form, check=check, status=422)
    try:
        change = customer.submit(
            context, link,
            customer.Entered(issuer=entered["issuer"], client_id=entered["client_id"],
                             client_secret=entered["client_secret"], check=check),
        )  # fmt: skip
    except LinkClosed:
        return _refused(request, customer.Refused())
    except AlreadyWaiting:
        partner = settings.PORTAL_PARTNER_NAME
        form.add_error(
            None,
            f"Settings entered for {link.organization_name} already wait for {partner}'s review. Nothing more is "
            "needed from you now; to change them, ask your contact for a new link.",
        )
        return _form_page(request, link, form, status=409)
    except PolytomicNotFound:
        return _refused(request, customer.Refused())
    except (PolytomicError, AuditUnavailable):
        logger.warning("A setup link's submission could not be taken", exc_info=True)
        form.add_error(None, NOT_TAKEN)
        return _form_page(request, link, form, status=503)
    return render(request, "setup_links/thanks.html", _page(organization_name=link.organization_name, change=change))


SCRIPT = (Path(__file__).parent / "check.js").read_text()


@public
@require_http_methods(["GET"])
def setup_script(request: HttpRequest) -> HttpResponse:
    """The setup page's one script, under the setup prefix so that a public host exposing only
    /setup/ serves it too."""
    return HttpResponse(SCRIPT, content_type="text/javascript; charset=utf-8")


@public
def setup_elsewhere(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other address under /setup/: the refusal a wrong token gets (and counts as one), so that
    the public prefix shows nothing of the portal behind it."""
    return _refused(request, customer.missed(request))


@public
@require_POST
def setup_check(request: HttpRequest, token: str) -> HttpResponse:
    """The live issuer check, asked by the page's own script: a small JSON answer."""
    try:
        link = customer.found(request, token)
    except customer.Refused as refused:
        return JsonResponse(
            {"passed": False, "message": "This link cannot be used."}, status=429 if refused.limited else 404
        )
    issuer = request.POST.get("issuer", "").strip()
    field = BY_NAME["issuer"]
    issuer, problem = field_rules.checked(field.kind, issuer) if issuer else (issuer, "Enter the issuer URL first.")
    if not problem and len(issuer) > field.max_length:
        problem = f"The issuer URL can be at most {field.max_length} characters."
    if problem:
        return JsonResponse({"passed": False, "message": problem}, status=422)
    try:
        check = customer.checked(customer.customer_context(request, link), link, issuer)
    except AuditUnavailable:
        return JsonResponse({"passed": False, "message": "The issuer could not be checked just now."}, status=503)
    return JsonResponse({"passed": check.passed, "message": said(check)})


def said(check: IssuerCheck) -> str:
    """The check in one sentence for the customer's admin."""
    if check.passed:
        return (
            f"The issuer answers as expected: its discovery document names exactly {check.issuer}, and sign-in "
            f"goes to {check.authorization_host}."
        )
    return f"The issuer check found a problem: {check.problem}"


def _form_page(
    request: HttpRequest, link: SetupLink, form: SetupForm, *, check: IssuerCheck | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "setup_links/page.html",
        _page(
            link=link,
            form=form,
            check=check,
            check_said=said(check) if check else "",
            redirect_uri=settings.PORTAL_CUSTOMER_OIDC_REDIRECT_URI,
            redirect_uri_confirmed=settings.PORTAL_CUSTOMER_OIDC_REDIRECT_URI_CONFIRMED,
        ),
        status=status,
    )
