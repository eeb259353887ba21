"""Sign-in events, logged for security review. (Failed attempts are also counted by django-axes.)"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from orgadmin.proxies import client_ip

log = logging.getLogger("orgadmin.security")


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    log.info("Sign-in: %s from %s", user.get_username(), client_ip(request) if request else "-")


@receiver(user_login_failed)
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # The credentials are cleansed by Django (the password is masked); only the username is logged.
    log.warning(
        "Failed sign-in for %r from %s", credentials.get("username", ""), client_ip(request) if request else "-"
    )


@receiver(user_logged_out)
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    log.info("Sign-out: %s", user.get_username() if user is not None else "-")
