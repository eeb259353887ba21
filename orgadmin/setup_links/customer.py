"""A setup link on the customer's side: the token found (or refused, with the misses of an address
counted in the shared cache), the link opened, the issuer checked, and the submission, which
becomes a change request of kind "setup" in the link maker's name: never sent to Polytomic until
another Editor or Admin approves it (`orgadmin.change_requests`)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEntry
from audit.protocol import USER_AGENT_MAX_CHARS, AuditContext
from orgadmin.change_requests import requesting
from orgadmin.issuer_check import IssuerCheck, check_issuer
from orgadmin.models import ChangeRequest, SetupLink
from orgadmin.organizations import credentials, lock
from orgadmin.organizations.edit_guard import summarise
from orgadmin.organizations.queries import organization_get, organization_last_sent_client_id
from orgadmin.polytomic.fields import Organization, OrganizationInput
from orgadmin.setup_links.links import TOKEN_SHAPE, LinkClosed, record_step, token_hash
from staff.forwarded_headers import client_ip

security_log = logging.getLogger("orgadmin.security")

WINDOW_SECONDS = 3600
# Issuer checks one link may ask for in an hour: enough to correct a typo many times over, too few
# to use the portal as a fetcher.
CHECKS_PER_LINK_PER_HOUR = 30
SIGNED_IN_AS = "setup link"  # how the customer "signed in", for the audit log


class Refused(Exception):
    """No link for this token now (wrong, used, expired, revoked: one answer for all), or (`limited`)
    this address presented too many such tokens this hour."""

    def __init__(self, *, limited: bool = False) -> None:
        super().__init__("limited" if limited else "refused")
        self.limited = limited


def _counter(scope: str, key: str) -> str:
    return f"setup-link:{scope}:" + hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _count(key: str) -> int:
    """Adds one to a count kept for an hour from its first (in the shared cache, so that every
    worker and instance counts together); the new count."""
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two
        cache.add(key, 1, timeout=WINDOW_SECONDS)
        return 1


def found(request: HttpRequest, token: str) -> SetupLink:
    """The usable link of `token`, or Refused. An address over its misses of the hour is refused
    whatever it presents, its tokens not even looked up."""
    if (cache.get(_misses_of(request)) or 0) >= settings.PORTAL_SETUP_LINK_MISSES_PER_HOUR:
        raise Refused(limited=True)
    link = None
    if TOKEN_SHAPE.fullmatch(token):
        link = (
            SetupLink.objects.filter(SetupLink.usable_q(), token_hash=token_hash(token))
            .select_related("created_by")
            .first()
        )
    if link is None:
        raise missed(request)
    return link


def missed(request: HttpRequest) -> Refused:
    """Counts a miss of the request's address (a wrong token, or an address under /setup/ that is
    no link's), and the refusal it gets."""
    count = _count(_misses_of(request))
    security_log.warning("A setup link was refused to %s (%s this hour)", client_ip(request) or "-", count)
    return Refused(limited=count > settings.PORTAL_SETUP_LINK_MISSES_PER_HOUR)


def _misses_of(request: HttpRequest) -> str:
    return _counter("misses", client_ip(request) or "-")


def customer_context(request: HttpRequest, link: SetupLink) -> AuditContext:
    """The customer as the audit log names them: through link N, made by its maker. Never the
    staff member whose session the browser may also hold."""
    return AuditContext(
        actor=None,
        actor_label=f"customer via setup link #{link.pk} of {link.created_by.get_username()}"[:150],
        actor_signin=SIGNED_IN_AS,
        request_id=getattr(request, "request_id", ""),
        client_ip=client_ip(request) or None,
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX_CHARS],
    )


def opened(context: AuditContext, link: SetupLink) -> None:
    """Records the link's first opening (a step of its own, with its entry, or neither)."""
    if link.opened_at is not None:
        return
    with transaction.atomic():
        if SetupLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=timezone.now()):
            record_step(context, link, AuditEntry.Action.SETUP_LINK_OPEN, body={})


def checked(context: AuditContext, link: SetupLink, issuer: str) -> IssuerCheck:
    """The issuer check (the staff forms' own, SSRF-safe, recorded), at most
    CHECKS_PER_LINK_PER_HOUR a link."""
    if _count(_counter("checks", str(link.pk))) > CHECKS_PER_LINK_PER_HOUR:
        return IssuerCheck(issuer=issuer, problem="Too many checks from this link this hour: try again later.")
    return check_issuer(issuer, context=context)


@dataclass(frozen=True)
class Entered:
    issuer: str
    client_id: str
    client_secret: str
    check: IssuerCheck | None


def submit(context: AuditContext, link: SetupLink, entered: Entered) -> ChangeRequest:
    """The customer's OIDC as a change request waiting for another Editor or Admin: the organization
    read now (what approving compares with: changed meanwhile, the request is void), its name and
    SAML kept, its OIDC replaced by what was entered. The link is used up in the same transaction
    (LinkClosed if it was meanwhile); requesting.AlreadyWaiting if a submission waits already, the
    link then still usable. Polytomic errors and AuditUnavailable propagate, nothing recorded."""
    organization = organization_get(context=context, organization_id=UUID(link.organization_id))
    data = OrganizationInput(
        **{**organization.values(), "issuer": entered.issuer, "client_id": entered.client_id,
           "client_secret": entered.client_secret}
    )  # fmt: skip
    summary = _summary(link, organization, data, entered.check)
    with lock.held(link.organization_id), transaction.atomic():
        if not SetupLink.objects.filter(SetupLink.usable_q(), pk=link.pk).update(submitted_at=timezone.now()):
            raise LinkClosed("This setup link can no longer be used.")
        change = requesting.request_setup(
            context=context, requested_by=link.created_by, organization=organization, data=data, summary=summary,
            reason=f"Entered by the customer through setup link #{link.pk}, made by {link.created_by.get_username()}.",
        )  # fmt: skip
        SetupLink.objects.filter(pk=link.pk).update(change_request=change)
        record_step(context, link, AuditEntry.Action.SETUP_LINK_SUBMIT,
                    body={"change_request": change.pk, "issuer": entered.issuer,
                          "issuer_check": summary["issuer_check"]})  # fmt: skip
    return change


def _summary(link: SetupLink, organization: Organization, data: OrganizationInput, check: IssuerCheck | None) -> dict:
    last = organization_last_sent_client_id(organization)
    summary = summarise(
        before=organization, after=data, last_client_id=last.value if last else "",
        client_secret=credentials.secret_note(organization.id, data),
    ).as_record()  # fmt: skip
    summary["keep_credentials"] = credentials.keeping_is_on()
    summary["setup_link"] = link.pk
    summary["issuer_check"] = (
        {"passed": check.passed, "authorization_host": check.authorization_host, "problem": check.problem}
        if check is not None
        else None
    )
    return summary
