"""A staff member's sessions end at once when their account is deactivated or its last role is
removed (by an Admin, or by the identity provider's groups at sign-in); the browser a local
account signs in with is remembered for the sign-in throttle."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.signals import user_logged_in
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from orgadmin.roles import ROLES
from orgadmin.throttle import remember_device
from staff import signin

security_log = logging.getLogger("orgadmin.security")
User = get_user_model()


def end_sessions(user: Any, *, reason: str) -> int:
    """Ends every session of `user`; the number ended."""
    sessions = list(UserSession.objects.filter(user=user))
    for session in sessions:
        session.end()
    if sessions:
        security_log.info("Ended %d session(s) of %s: %s", len(sessions), user.get_username(), reason)
    return len(sessions)


@receiver(post_save, sender=User)
def _deactivated(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        end_sessions(instance, reason="account deactivated")


@receiver(m2m_changed, sender=User.groups.through)
def _roles_changed(sender: Any, instance: Any, action: str, reverse: bool, **kwargs: Any) -> None:
    if action not in ("post_remove", "post_clear") or (reverse and action == "post_clear"):
        return  # (a group emptied at once names no members here: Admins remove people, not groups)
    users = [instance] if not reverse else list(User.objects.filter(pk__in=kwargs.get("pk_set") or ()))
    for user in users:
        if not user.is_superuser and not user.groups.filter(name__in=ROLES).exists():
            end_sessions(user, reason="last role removed")


@receiver(user_logged_in)
def _signed_in(sender: Any, request: HttpRequest, response: HttpResponse, user: Any, **kwargs: Any) -> None:
    """A local account: failures from elsewhere never pause its sign-in in this browser again
    (orgadmin/throttle.py). The identity provider's: what its sign-in told the session."""
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is not None:
        request.session.update(getattr(sociallogin, "portal_session", {}))
    elif signin.is_local(request):
        remember_device(request, response, user)
