"""Settings of the mail the portal sends (orgadmin/mail.py): the SMTP server, the sender, how long
a server may keep a worker waiting, and the address the mail links to. Without EMAIL_URL mail is
off and nothing is ever sent, Django's own mail included."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

from portal.environment import refusal
from portal.settings.base import DEBUG, env

# The SMTP server, as a URL read by django-environ's email URL parser: smtp:// (plain),
# smtp+tls:// (STARTTLS) or smtp+ssl:// (TLS from the start), with the account in it. Not
# smtps://, which django-environ reads as STARTTLS where most people mean TLS from the start, nor a
# backend that prints (standard output carries the audit stream). Options are in the scheme alone:
# django-environ reads `?ssl=False` as on.
_email_url = env.service_url("EMAIL_URL", ("smtp", "smtp+tls", "smtp+ssl"), default="")
_shown = "<a URL with a password>" if urlsplit(_email_url).password else _email_url
if _email_url and (not urlsplit(_email_url).hostname or urlsplit(_email_url).query):
    raise refusal("EMAIL_URL", _shown, "use smtp://user:password@host:port, naming the host and no ?options")
_email = env.email_url_config(_email_url) if _email_url else {}
PORTAL_MAIL_ON = bool(_email)
# Off, Django's dummy backend: nothing that calls Django's mail API sends anything.
EMAIL_BACKEND = _email.get("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_PORT = _email.get("EMAIL_PORT") or (465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
# Seconds each step of talking to the SMTP server may take (connecting, each command): mail is sent
# by the worker whose page caused it, after its transaction, so a slow server holds that worker.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0, positive=True)

# The sender, "Name <address>" or an address; required with mail on (outside DEBUG), where
# Django's own default (webmaster@localhost) would be refused or filed as spam.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="").strip()
if DEFAULT_FROM_EMAIL:
    try:
        validate_email(parseaddr(DEFAULT_FROM_EMAIL)[1])
    except ValidationError:
        raise refusal("DEFAULT_FROM_EMAIL", DEFAULT_FROM_EMAIL, "use an address, or Name <address>") from None
elif PORTAL_MAIL_ON and not DEBUG:
    raise ImproperlyConfigured(
        "Set the DEFAULT_FROM_EMAIL environment variable: with EMAIL_URL set, mail is sent from it"
    )
else:
    DEFAULT_FROM_EMAIL = "portal@localhost"

# The staff portal's own address, for the links in mail (a message has no request to take it
# from): its scheme and host alone, as the portal is always at the root of its host (its cookies
# are `__Host-` ones). Required with mail on (outside DEBUG).
PORTAL_BASE_URL = env.service_url("PORTAL_BASE_URL", ("https", "http") if DEBUG else ("https",), default="")
_base = urlsplit(PORTAL_BASE_URL)
if PORTAL_BASE_URL and (not _base.hostname or _base.path not in ("", "/") or _base.query or _base.fragment):
    raise refusal(
        "PORTAL_BASE_URL", PORTAL_BASE_URL, "use the portal's scheme and host alone, e.g. https://admin.example.com"
    )
PORTAL_BASE_URL = PORTAL_BASE_URL.rstrip("/")
if not PORTAL_BASE_URL and PORTAL_MAIL_ON:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set the PORTAL_BASE_URL environment variable (e.g. https://admin.example.com): with EMAIL_URL set, "
            "mail links to the portal's pages there"
        )
    PORTAL_BASE_URL = "http://localhost:8000"
