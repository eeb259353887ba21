"""The mail the portal sends: one plain-text message at a time, through Django's mail API, to an
SMTP server named by EMAIL_URL (portal/settings/mail.py). Without it mail is off and nothing is sent.

Mail is a notice, never a step: `send` never raises. A server that refuses the message or cannot
be reached is logged with its cause (never with the message's body) and the caller carries on. It
talks to the server, for up to EMAIL_TIMEOUT a step, so it is never called inside a transaction:
callers hand it to `transaction.on_commit`, which also keeps a rolled-back step from announcing
anything.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)


def mail_on() -> bool:
    """Whether the portal sends mail at all (EMAIL_URL is set)."""
    return settings.PORTAL_MAIL_ON


def portal_url(path: str) -> str:
    """The absolute address of one of the portal's pages (a path, e.g. from `reverse`), at
    PORTAL_BASE_URL. Without it (mail off, outside DEBUG) the path alone: no mail carries it."""
    return f"{settings.PORTAL_BASE_URL}{path}"


def send(*, subject: str, body: str, to: list[str], what: str) -> bool:
    """Sends one plain-text message from DEFAULT_FROM_EMAIL to the addresses `to`; `what` names it
    in the log ("change request 12 waiting"). Whether the server took it: False with mail off, with
    nobody to send to, or when the server refused it or could not be reached (logged, with why)."""
    if not mail_on() or not to:
        return False
    # A header is one line: a name from Polytomic with a line break in it would make Django refuse the message.
    subject = " ".join(subject.split())
    try:
        EmailMessage(subject=subject, body=body, to=to).send()
    except Exception as exc:  # mail is a notice: whatever stops it, the step it tells of stands
        logger.warning("Mail not sent: %s, to %d address(es): %s: %s", what, len(to), type(exc).__name__, exc)
        return False
    logger.info("Mail sent: %s, to %d address(es)", what, len(to))
    return True
