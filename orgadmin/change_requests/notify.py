"""Mail where people wait (orgadmin/mail.py; nothing with mail off): the staff who may decide a
change request are told once when it starts waiting, and its requester once when it is decided.

A message names the organization, the change (`ChangeRequest.title`), the people and the time,
and links to the request's page; never a value of the change (a client id, a secret), which the
page shows to those who may see it. Each is sent after the step's transaction commits (a step
rolled back announces nothing), reading the request as committed; whatever fails in it is logged
and never fails the step (`transaction.on_commit(..., robust=True)`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from orgadmin import mail
from orgadmin.models import ChangeRequest


def waiting(change: ChangeRequest) -> None:
    """After commit: mails those who may decide the request, but its requester, that it waits."""
    if mail.mail_on():
        transaction.on_commit(lambda: _send_waiting(change.pk), robust=True)


def decided(change: ChangeRequest) -> None:
    """After commit: mails the requester what was decided and what came of it, as the request then stands."""
    if mail.mail_on():
        transaction.on_commit(lambda: _send_decided(change.pk), robust=True)


def deciders(change: ChangeRequest) -> list[str]:
    """The addresses of the active staff who may decide the request (its `deciding_permission`,
    from a group, their own or as superusers, as `has_perm` reads it), its requester and those
    without an address left out. One query, however many staff."""
    users = get_user_model().objects.none()
    for backend in settings.AUTHENTICATION_BACKENDS:  # as has_perm asks each (with_perm wants one named)
        users |= get_user_model().objects.with_perm(change.deciding_permission, backend=backend)
    addresses = users.exclude(pk=change.requested_by_id).exclude(email="").values_list("email", flat=True)
    return sorted(set(addresses), key=str.lower)


def _send_waiting(change_id: int) -> None:
    change = ChangeRequest.objects.select_related("requested_by").get(pk=change_id)
    expires = timezone.localtime(change.expires_at)
    mail.send(
        subject=f"Change request #{change.pk} for {change.organization_name} waits for a decision: {change.title}",
        body=(
            f"{_name(change.requested_by)} asks for a change to {change.organization_name} that waits for a "
            f"second person:\n\n"
            f"    {change.title}\n\n"
            f"Review it and approve or reject it before {expires:%Y-%m-%d %H:%M %Z}, when it expires:\n\n"
            f"{_link(change)}\n\n"
            "You are sent this because you may decide change requests in the organization portal.\n"
        ),
        to=deciders(change),
        what=f"change request {change.pk} waiting",
    )


def _send_decided(change_id: int) -> None:
    change = ChangeRequest.objects.select_related("requested_by", "decided_by").get(pk=change_id)
    requester = change.requested_by
    if not (requester.is_active and requester.email):
        return
    decider = _name(change.decided_by) if change.decided_by else "Someone"
    mail.send(
        subject=f"Your change request #{change.pk} for {change.organization_name}: {change.status_shown}",
        body=(
            f"{decider} decided your change request #{change.pk} to {change.organization_name} "
            f"({change.title}):\n\n"
            f"    {change.status_shown}\n\n"
            f"What came of it, and what can still be done:\n\n"
            f"{_link(change)}\n"
        ),
        to=[requester.email],
        what=f"change request {change.pk} decided",
    )


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _link(change: ChangeRequest) -> str:
    return mail.portal_url(reverse("orgadmin:change-detail", args=[change.pk]))
