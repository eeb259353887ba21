"""A setup link's life on the staff side: made (its token shown once, kept only as a hash), mailed,
revoked, expired; each step and its audit entry one transaction, naming the link and its maker."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import PORTAL, AuditContext, AuditUnavailable
from orgadmin import mail
from orgadmin.models import SetupLink
from orgadmin.polytomic.fields import Organization

# 256 random bits, in URL-safe base64 without padding: 43 characters.
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_HOURS = 7 * 24


class LinkClosed(Exception):
    """The link cannot take this step any more (revoked, used, expired); `message` says so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def link_url(token: str, *, request: HttpRequest) -> str:
    """The link as the customer opens it: on the public setup host when one is set
    (PORTAL_SETUP_LINK_BASE_URL), else on the host its maker used."""
    path = reverse("setup-page", args=[token])
    base = settings.PORTAL_SETUP_LINK_BASE_URL
    return base + path if base else request.build_absolute_uri(path)


def create(*, context: AuditContext, organization: Organization, hours: int, email: str) -> tuple[SetupLink, str]:
    """A new link for `organization`, usable for `hours` (at most seven days), and its token,
    which is not kept: the caller shows it once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        link = SetupLink.objects.create(
            organization_id=organization.id,
            organization_name=organization.name,
            token_hash=token_hash(token),
            created_by=context.actor,
            created_at=now,
            expires_at=now + timedelta(hours=min(hours, MAX_HOURS)),
            email=email,
        )
        record_step(context, link, AuditEntry.Action.SETUP_LINK_CREATE,
                    body={"expires_at": link.expires_at.isoformat(), "email": email or None})  # fmt: skip
    return link, token


def send_by_mail(*, context: AuditContext, link: SetupLink, url: str) -> bool:
    """Mails the link to the address its maker entered, and records whether it went. The message
    holds the link: it is the one place besides the maker's page that it goes."""
    partner = settings.PORTAL_PARTNER_NAME
    expires = f"{link.expires_at:%Y-%m-%d %H:%M} UTC"
    body = (
        f"Hello,\n\n{partner} asks you to enter the OpenID Connect (OIDC) single sign-on settings of "
        f"{link.organization_name}, so that your users can sign in to Polytomic through your identity provider.\n\n"
        f"Open this link (it works once, until {expires}):\n\n{url}\n\n"
        "The page says what to register at your identity provider and asks for its issuer URL, the client id "
        f"and the client secret. Nothing changes until {partner} has confirmed your entry with you.\n\n"
        f"If you did not expect this message, do not open the link: tell your contact at {partner}.\n"
    )
    sent = mail.send(
        subject=f"{partner}: set up single sign-on for {link.organization_name}",
        body=body,
        to=[link.email],
        what=f"setup link {link.pk}",
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            if sent:
                SetupLink.objects.filter(pk=link.pk).update(emailed_at=now)
                link.emailed_at = now
            record_step(context, link, AuditEntry.Action.SETUP_LINK_EMAIL, body={"to": link.email, "sent": sent},
                        outcome=AuditEntry.Outcome.OK if sent else AuditEntry.Outcome.FAILED)  # fmt: skip
    except AuditUnavailable:
        pass  # logged by audit.protocol.record; the mail is gone or not, whatever the log says
    return sent


def revoke(*, context: AuditContext, link_id: int, organization_id: str) -> SetupLink:
    """Revokes a link still usable: a customer opening it afterwards is refused."""
    with transaction.atomic():
        this_link = SetupLink.objects.filter(pk=link_id, organization_id=organization_id)
        taken = this_link.filter(SetupLink.usable_q()).update(revoked_at=timezone.now(), revoked_by=context.actor)
        link = this_link.select_related("created_by").first()
        if link is None:
            raise LinkClosed("There is no such setup link for this organization.")
        if not taken:
            raise LinkClosed(f"This setup link can no longer be revoked: it is {link.state_shown.lower()}.")
        record_step(context, link, AuditEntry.Action.SETUP_LINK_REVOKE, body={})
    return link


def expire_due(*, context: AuditContext = PORTAL) -> int:
    """Records the expiry of the links past their time, unused and unrevoked (the expire command);
    the number recorded. The link is refused from its time on, recorded or not."""
    due = SetupLink.objects.filter(
        submitted_at__isnull=True, revoked_at__isnull=True, expiry_recorded=False, expires_at__lte=timezone.now()
    )
    expired = 0
    for link_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            if SetupLink.objects.filter(pk=link_id, expiry_recorded=False, submitted_at__isnull=True).update(
                expiry_recorded=True
            ):
                link = SetupLink.objects.select_related("created_by").get(pk=link_id)
                record_step(context, link, AuditEntry.Action.SETUP_LINK_EXPIRE, body={})
                expired += 1
    return expired


def record_step(
    context: AuditContext, link: SetupLink, action: str, *, body: dict[str, Any], outcome: str = AuditEntry.Outcome.OK
) -> None:
    """The entry of a step of the link's life, naming the link and its maker (the actor is whoever
    took the step: staff, the customer through the link, or the portal). On the step's own
    connection, in its transaction: the step and its entry commit together, or neither."""
    audit_protocol.record(
        context,
        action=action,
        nothing_sent=True,
        what=f"{action} of setup link {link.pk}",
        using=DEFAULT_DB_ALIAS,
        organization_id=link.organization_id,
        organization_name=link.organization_name,
        request_body={"setup_link": link.pk, "created_by": link.created_by.get_username(), **body},
        outcome=outcome,
        attempts=0,
    )
