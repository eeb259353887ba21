"""Settings of what the portal does to customer organizations: Polytomic's API, the OIDC issuer
check, and four eyes on the changes that can lock a customer out."""

from __future__ import annotations

from portal.settings.base import DEBUG, env

# --- Polytomic's API -----------------------------------------------------------------------------

POLYTOMIC_API_URL = env.str("POLYTOMIC_API_URL", default="https://app.polytomic.com").rstrip("/")
POLYTOMIC_API_VERSION = env.str("POLYTOMIC_API_VERSION", default="2025-09-18")
# The partner key can manage every customer organization: it never has a default outside DEBUG.
if DEBUG:
    POLYTOMIC_PARTNER_API_KEY = env.str("POLYTOMIC_PARTNER_API_KEY", default="").strip()
else:
    POLYTOMIC_PARTNER_API_KEY = env.secret("POLYTOMIC_PARTNER_API_KEY")
POLYTOMIC_CONNECT_TIMEOUT = env.float("POLYTOMIC_CONNECT_TIMEOUT", default=3.05, positive=True)
POLYTOMIC_READ_TIMEOUT = env.float("POLYTOMIC_READ_TIMEOUT", default=15.0, positive=True)
# However slowly an answer trickles in, a call ends this many seconds after it started.
POLYTOMIC_TOTAL_TIMEOUT = env.float("POLYTOMIC_TOTAL_TIMEOUT", default=20.0, positive=True)
# The largest answer read (decompressed); a larger one is refused (10,000 organizations are ~2 MB).
POLYTOMIC_MAX_RESPONSE_BYTES = env.int("POLYTOMIC_MAX_RESPONSE_BYTES", default=8 * 1024 * 1024, minimum=1)
# Keep-alive connections to Polytomic kept per worker process: at least the gunicorn threads.
POLYTOMIC_POOL_SIZE = env.int("POLYTOMIC_POOL_SIZE", default=16, minimum=1)

# --- The OIDC issuer check -----------------------------------------------------------------------

# The issuer check (orgadmin/issuer_check/) reaches public https addresses only; the tests and
# the demo name here the loopback origins (scheme://host:port) of their own identity providers,
# which it may then reach (over http too, if so named). Never set in production.
PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = env.list("PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS", default=[])
# Issuer checks running at once, for one user and in the whole portal (every worker and instance
# sharing the cache); one more is refused at once, so that checks never hold the threads pages need.
PORTAL_ISSUER_CHECK_MAX_PER_USER = env.int("PORTAL_ISSUER_CHECK_MAX_PER_USER", default=2, minimum=1)
PORTAL_ISSUER_CHECK_MAX_TOTAL = env.int("PORTAL_ISSUER_CHECK_MAX_TOTAL", default=4, minimum=1)
# One deadline, in seconds, over the whole check: resolving, connecting, TLS, headers and body,
# however slowly the issuer trickles its bytes.
PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS = env.float("PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS", default=3.0, positive=True)
# The certificate authorities the issuer check trusts, instead of the system's (a PEM file).
PORTAL_ISSUER_CHECK_CA_FILE = env.str("PORTAL_ISSUER_CHECK_CA_FILE", default="") or None

# --- Four eyes: changes that can lock a customer out wait for a second person -------------------

# Off, one person can remove or reroute a customer's single sign-on alone (README, "Four eyes").
PORTAL_FOUR_EYES = env.bool("PORTAL_FOUR_EYES", default=not DEBUG)
# What needs approval: removing SAML SSO or OIDC ("remove-sso"), adding or changing where sign-in
# goes on an organization that has single sign-on ("change-sso": SSO domain, SSO organization id,
# issuer, client id), deleting ("delete"). Each value is checked: a misspelt one would otherwise
# turn its approval off without a word.
_approvals = ("remove-sso", "change-sso", "delete")
PORTAL_APPROVAL_FOR = env.choices("PORTAL_APPROVAL_FOR", _approvals, default=_approvals)
# A change request not decided within this many hours expires; its client secret is erased.
PORTAL_CHANGE_REQUEST_HOURS = env.int("PORTAL_CHANGE_REQUEST_HOURS", default=24, minimum=1)

# --- Kept OIDC credentials ------------------------------------------------------------------------

# The keys that encrypt the customers' OIDC credentials staff chose to keep (README, "Kept OIDC
# credentials"): Fernet keys, newest first; the newest encrypts, any of them decrypts, and
# `rekey_oidc_credentials` re-encrypts what is kept under the newest. None: nothing can be kept.
PORTAL_OIDC_CREDENTIALS_KEYS = env.fernet_keys("PORTAL_OIDC_CREDENTIALS_KEYS")

# --- Customer setup links (README, "Customer self-serve SSO setup") -------------------------------

# The partner's name, as the setup page and its mail name it to the customer's admin.
PORTAL_PARTNER_NAME = env.str("PORTAL_PARTNER_NAME", default="Your data platform").strip() or "Your data platform"
# Where setup links point: the public host that serves only /setup/ (README). Unset, a link is on
# the host its maker used.
PORTAL_SETUP_LINK_BASE_URL = env.str("PORTAL_SETUP_LINK_BASE_URL", default="").rstrip("/")
# A new link's lifetime unless its maker chooses another (at most 168 hours, seven days).
PORTAL_SETUP_LINK_HOURS = env.int("PORTAL_SETUP_LINK_HOURS", default=72, minimum=1, maximum=168)
# Wrong, used, expired or revoked tokens one address may present in an hour before every setup
# link is refused to it until the hour is over (counted in the shared cache).
PORTAL_SETUP_LINK_MISSES_PER_HOUR = env.int("PORTAL_SETUP_LINK_MISSES_PER_HOUR", default=10, minimum=1)
# The redirect URI the customer registers at their identity provider for Polytomic's OIDC sign-in.
# Polytomic's public material does not state it: the setup page marks it unconfirmed until
# PORTAL_CUSTOMER_OIDC_REDIRECT_URI_CONFIRMED says Polytomic confirmed it.
PORTAL_CUSTOMER_OIDC_REDIRECT_URI = env.str(
    "PORTAL_CUSTOMER_OIDC_REDIRECT_URI", default="https://app.polytomic.com/auth/oidc/callback"
)
PORTAL_CUSTOMER_OIDC_REDIRECT_URI_CONFIRMED = env.bool("PORTAL_CUSTOMER_OIDC_REDIRECT_URI_CONFIRMED", default=False)
