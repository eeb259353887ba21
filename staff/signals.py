"""A staff member's sessions end at once when their account is deactivated or its last role is
removed (by an Admin, or by the identity provider's groups at sign-in); the browser a local
account signs in with is remembered for the sign-in throttle; sign-ins, failed sign-ins and
sign-outs are logged for security review (failed attempts are also counted by django-axes)."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account import signals as account_signals
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from staff import sign_out_notice, signin
from staff.forwarded_headers import client_ip
from staff.roles import ROLES
from staff.throttle import remember_device

# The security log keeps the name it has always had: operators' log routing and alerts select it
# by "orgadmin.security".
security_log = logging.getLogger("orgadmin.security")
User = get_user_model()


def end_sessions(user: Any, *, reason: str, notice: str) -> int:
    """Ends every session of `user`; the number ended. `reason` is for the security log; `notice`
    is what each of those browsers reads on the sign-in page it lands on next."""
    sessions = list(UserSession.objects.filter(user=user))
    sign_out_notice.remember([session.session_key for session in sessions], notice)
    for session in sessions:
        session.end()
    if sessions:
        security_log.info("Ended %d session(s) of %s: %s", len(sessions), user.get_username(), reason)
    return len(sessions)


@receiver(post_save, sender=User)
def _deactivated(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        end_sessions(
            instance, reason="account deactivated", notice="You were signed out: your account was deactivated."
        )


@receiver(m2m_changed, sender=User.groups.through)
def _roles_changed(sender: Any, instance: Any, action: str, reverse: bool, **kwargs: Any) -> None:
    if action not in ("post_remove", "post_clear") or (reverse and action == "post_clear"):
        return  # (a group emptied at once names no members here: Admins remove people, not groups)
    users = [instance] if not reverse else list(User.objects.filter(pk__in=kwargs.get("pk_set") or ()))
    for user in users:
        if not user.is_superuser and not user.groups.filter(name__in=ROLES).exists():
            end_sessions(
                user,
                reason="last role removed",
                notice="You were signed out: your account no longer has a role in the portal.",
            )


@receiver(account_signals.user_logged_in)
def _signed_in_through_allauth(
    sender: Any, request: HttpRequest, response: HttpResponse, user: Any, **kwargs: Any
) -> None:
    """A local account: failures from elsewhere never pause its sign-in in this browser again
    (throttle.py). The identity provider's: what its sign-in told the session."""
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is not None:
        request.session.update(getattr(sociallogin, "portal_session", {}))
    elif signin.is_local(request):
        remember_device(request, response, user)


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    security_log.info("Sign-in: %s from %s", user.get_username(), client_ip(request) if request else "-")


@receiver(user_login_failed)
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # The credentials are cleansed by Django (the password is masked); only the username is logged.
    security_log.warning(
        "Failed sign-in for %r from %s", credentials.get("username", ""), client_ip(request) if request else "-"
    )


@receiver(user_logged_out)
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    security_log.info("Sign-out: %s", user.get_username() if user is not None else "-")
