"""An organization's setup links, for Editors and Admins: the list with each link's state, a form
to make one (its link shown once, on the answer to the form, never again), and revoking."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from audit.protocol import AuditContext, AuditUnavailable
from orgadmin import mail
from orgadmin.models import SetupLink
from orgadmin.organizations.queries import organization_get
from orgadmin.polytomic.errors import PolytomicError, PolytomicNotFound
from orgadmin.setup_links import links
from orgadmin.setup_links.forms import NewLinkForm
from orgadmin.web import HtmxHttpRequest, form_status, upstream_error_page

LINKS_SHOWN = 50


@require_http_methods(["GET", "POST"])
@permission_required("orgadmin.change_organization", raise_exception=True)
@never_cache
def link_list(request: HtmxHttpRequest, organization_id: UUID) -> HttpResponse:
    context = AuditContext.from_request(request)
    try:
        organization = organization_get(context=context, organization_id=organization_id)
    except PolytomicNotFound:
        messages.warning(request, "That organization does not exist at Polytomic (it may have been deleted).")
        return redirect("orgadmin:organization-list")
    except (PolytomicError, AuditUnavailable) as exc:
        return upstream_error_page(request, exc, title="Setup links")
    form = NewLinkForm(request.POST if request.method == "POST" else None, mail_on=mail.mail_on())
    made = None
    if request.method == "POST" and form.is_valid():
        try:
            link, token = links.create(
                context=context, organization=organization, hours=form.cleaned_data["hours"],
                email=form.cleaned_data["email"],
            )  # fmt: skip
        except AuditUnavailable as exc:
            form.add_error(None, f"No link was made: {exc.message}")
        else:
            url = links.link_url(token, request=request)
            emailed = links.send_by_mail(context=context, link=link, url=url) if link.email else None
            made = {"link": link, "url": url, "emailed": emailed}
            form = NewLinkForm(mail_on=mail.mail_on())
    page = {
        "organization": organization,
        "form": form,
        "made": made,
        "links": SetupLink.objects.filter(organization_id=organization.id).select_related(
            "created_by", "revoked_by", "change_request"
        )[:LINKS_SHOWN],
    }
    return render(request, "orgadmin/setup_links.html", page, status=form_status(form))


@require_POST
@permission_required("orgadmin.change_organization", raise_exception=True)
def link_revoke(request: HtmxHttpRequest, organization_id: UUID, link_id: int) -> HttpResponse:
    try:
        link = links.revoke(
            context=AuditContext.from_request(request), link_id=link_id, organization_id=str(organization_id)
        )
    except (links.LinkClosed, AuditUnavailable) as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, f"Setup link #{link.pk} is revoked: it can no longer be used.")
    return redirect("orgadmin:setup-links", organization_id)
