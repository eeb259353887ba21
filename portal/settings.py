"""Settings of the partner organization portal.

Everything that differs between a laptop and production comes from the environment (or a `.env`
file beside manage.py), read with django-environ. `.env.example` lists every variable. Secrets have
no default outside DEBUG, so a missing one stops start-up with a message that names it.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
import jinja2
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.environment import PortalEnv

BASE_DIR = Path(__file__).resolve().parent.parent

# django-environ's FileAwareEnv, which also reads `<NAME>_FILE`, the path of a file holding the
# value (Docker and Kubernetes secrets) and taking precedence over `<NAME>`; strict about values,
# so a typo stops start-up instead of switching a safeguard off (portal/environment.py).
env = PortalEnv()
environ.Env.read_env(BASE_DIR / ".env")


def _origin(url: str) -> str:
    """The scheme, host and port of a URL, as a Content Security Policy source."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _required_secret(name: str) -> str:
    """A secret's value with surrounding white space (a secret file's newline) removed."""
    try:
        value = env.str(name).strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE names a file that cannot be read: {exc.strerror}") from None
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable (or {name}_FILE); it is empty")
    return value


DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="debug-only-secret-key-never-used-in-production-0123456789")
else:
    SECRET_KEY = _required_secret("SECRET_KEY")

# Keys the audit log's hash chain (HMAC), so that whoever can write the database cannot rewrite
# the log so that it verifies. Outside the database, like SECRET_KEY; it must never change.
if DEBUG:
    AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="debug-only-audit-chain-key-never-used-in-production")
else:
    AUDIT_CHAIN_KEY = _required_secret("AUDIT_CHAIN_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Polytomic -----------------------------------------------------------------------------------

POLYTOMIC_API_URL = env.str("POLYTOMIC_API_URL", default="https://app.polytomic.com").rstrip("/")
POLYTOMIC_API_VERSION = env.str("POLYTOMIC_API_VERSION", default="2025-09-18")
# The partner key can manage every customer organization: it never has a default outside DEBUG.
if DEBUG:
    POLYTOMIC_PARTNER_API_KEY = env.str("POLYTOMIC_PARTNER_API_KEY", default="").strip()
else:
    POLYTOMIC_PARTNER_API_KEY = _required_secret("POLYTOMIC_PARTNER_API_KEY")
POLYTOMIC_CONNECT_TIMEOUT = env.float("POLYTOMIC_CONNECT_TIMEOUT", default=3.05, positive=True)
POLYTOMIC_READ_TIMEOUT = env.float("POLYTOMIC_READ_TIMEOUT", default=15.0, positive=True)
# However slowly an answer trickles in, a call ends this many seconds after it started.
POLYTOMIC_TOTAL_TIMEOUT = env.float("POLYTOMIC_TOTAL_TIMEOUT", default=20.0, positive=True)
# The largest answer read (decompressed); a larger one is refused (10,000 organizations are ~2 MB).
POLYTOMIC_MAX_RESPONSE_BYTES = env.int("POLYTOMIC_MAX_RESPONSE_BYTES", default=8 * 1024 * 1024, minimum=1)
# Keep-alive connections to Polytomic kept per worker process: at least the gunicorn threads.
POLYTOMIC_POOL_SIZE = env.int("POLYTOMIC_POOL_SIZE", default=16, minimum=1)
# The issuer check (orgadmin/issuer_check.py) reaches public https addresses only; the tests and
# the demo name here the loopback origins (scheme://host:port) of their own identity providers,
# which it may then reach (over http too, if so named). Never set in production.
PORTAL_ISSUER_CHECK_LOOPBACK_ORIGINS = env.list("ISSUER_CHECK_LOOPBACK_ORIGINS", default=[])
# Issuer checks running at once, for one user and in the whole portal (every worker and instance
# sharing the cache); one more is refused at once, so that checks never hold the threads pages need.
PORTAL_ISSUER_CHECK_MAX_PER_USER = env.int("ISSUER_CHECK_MAX_PER_USER", default=2, minimum=1)
PORTAL_ISSUER_CHECK_MAX_TOTAL = env.int("ISSUER_CHECK_MAX_TOTAL", default=4, minimum=1)
# The certificate authorities the issuer check trusts, instead of the system's (a PEM file).
PORTAL_ISSUER_CHECK_CA_FILE = env.str("ISSUER_CHECK_CA_FILE", default="") or None

# --- Four eyes: changes that can lock a customer out wait for a second person -------------------
# Off, one person can remove or reroute a customer's single sign-on alone (README, "Four eyes").
PORTAL_FOUR_EYES = env.bool("FOUR_EYES", default=not DEBUG)
# What needs approval: removing SAML SSO or OIDC ("remove-sso"), adding or changing where sign-in
# goes on an organization that has single sign-on ("change-sso": SSO domain, SSO organization id,
# issuer, client id), deleting ("delete"). Each value is checked: a misspelt one would otherwise
# turn its approval off without a word.
_approvals = ("remove-sso", "change-sso", "delete")
PORTAL_APPROVAL_FOR = env.choices("APPROVAL_FOR", _approvals, default=_approvals)
# A change request not decided within this many hours expires; its client secret is erased.
PORTAL_CHANGE_REQUEST_HOURS = env.int("CHANGE_REQUEST_HOURS", default=24, minimum=1)

# --- Application ---------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # allauth's second-factor pages use it
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    "axes",
    # Staff sign-in (staff/README.md): local accounts with a second factor, the company's identity
    # provider over OpenID Connect, and each staff member's sessions.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.usersessions",
    # The audit log (audit/__init__.py): its store, chain, guard and retention, written through one protocol.
    "audit",
    "orgadmin",
    "staff",
]

MIDDLEWARE = [
    # First: answers /healthz before host validation, HTTPS redirect and sign-in (see its docstring).
    "orgadmin.middleware.HealthCheckMiddleware",
    # Before anything reads the client's address, the scheme or the request id.
    "staff.forwarded_headers.ForwardedHeadersMiddleware",
    "orgadmin.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "staff.middleware.SessionLifetimeMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # A local account without a second factor sees nothing but its enrolment (PORTAL_REQUIRE_MFA).
    "staff.middleware.SecondFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Development tools (devtools/: the sandbox, demo, seed_audit) and the benchmark that uses them
# (benchmarks/: bench) exist only in a checkout, never in the production image.
PORTAL_DEVTOOLS = env.bool("PORTAL_DEVTOOLS", default=DEBUG)
if PORTAL_DEVTOOLS:
    INSTALLED_APPS += ["devtools", "benchmarks"]

ROOT_URLCONF = "portal.urls"
# Error reports (the DEBUG page included) never show the partner key or a client secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "orgadmin.error_reports.SecretHidingExceptionReporterFilter"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "orgadmin.context_processors.portal",
            ],
        },
    },
    {
        # The rows of the long tables only (`{% table_rows %}`, orgadmin/rows.py): Jinja2 renders
        # a row in a fraction of the time (docs/performance.md). Templates in an app's jinja2/ folder.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"undefined": jinja2.StrictUndefined},
    },
]

# Forms and widgets: Django's own templates for them, rendered by Jinja2 (portal/renderers.py).
FORM_RENDERER = "portal.renderers.FormRenderer"

# --- Database ------------------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while one thread writes; IMMEDIATE takes the write lock at the start of
    # a transaction instead of failing with "database is locked" halfway through it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 10,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Connections are kept between requests (each thread has its own), not opened for every page.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # A second connection to the same database, used only to write an audit entry while the
    # caller is inside a transaction, so the entry outlives its rollback (audit/store.py).
    DATABASES["audit"] = {**DATABASES["default"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: the sign-in protections' shared state -----------------------------------------------
# django-allauth keeps its limits on second-factor codes, the codes already used and the ID tokens
# already seen in Django's cache. Every worker of every instance must see the same ones, or each
# worker would allow its own five tries and accept a used code again (README, "Staff sign-in").
# Default: a table of the default database (made by `migrate`, staff/migrations/0002), so nothing
# more runs; a deployment with Redis sets CACHE_URL=redis://host:6379/0 (or rediss://).
PORTAL_CACHE_TABLE = "portal_cache"
_cache_url = env.str("CACHE_URL", default="") or f"dbcache://{PORTAL_CACHE_TABLE}"
# Django's own Redis backend, which django-environ picks only when django-redis is not installed.
_redis = (
    "django.core.cache.backends.redis.RedisCache"
    if urlsplit(_cache_url).scheme in {"redis", "rediss", "rediscache"}
    else None
)
_cache = env.cache_url_config(_cache_url, backend=_redis)
# django-environ lower-cases `?key_prefix=` (or `timeout`, `version`) for Django's Redis backend,
# where Django reads them in capitals.
_cache.update({name.upper(): _cache.pop(name) for name in ("timeout", "key_prefix", "version") if name in _cache})
# A name of the portal's own in a Redis others share (allauth's keys carry none); `?key_prefix=`
# gives another, e.g. to two deployments on one Redis database.
CACHES = {"default": {"KEY_PREFIX": "portal", **_cache}}
if _cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's default of 300 entries would let a burst of sign-in attempts from many addresses cull
    # (delete) the counts and used codes that matter; the expired entries go first.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

# --- Sign-in, sessions and throttling ------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    # django-axes first, so a locked-out sign-in is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, with the user and their permissions read by fixed queries (staff/backends.py).
    "staff.backends.ModelBackendOneQuery",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "account_login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Django's database sessions, loaded with a fixed query (staff/sessions.py).
SESSION_ENGINE = "staff.sessions"
# Idle timeout: an active session's expiry keeps moving forward (see PORTAL_SESSION_REFRESH).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30, minimum=1) * 60
# An active session's expiry is pushed back at most once a minute (SessionLifetimeMiddleware),
# not on every request: the idle timeout holds to within that minute.
PORTAL_SESSION_REFRESH = 60
# Absolute maximum, however active the session: enforced by SessionLifetimeMiddleware.
PORTAL_SESSION_MAX_AGE = env.int("SESSION_MAX_HOURS", default=12, minimum=1) * 3600

# Reverse proxies in front of the portal that append to X-Forwarded-For and set X-Forwarded-Proto.
# 0 means clients connect directly: forwarded headers are ignored, as anyone could send them.
PORTAL_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0, minimum=0)
# The addresses those proxies connect from: forwarded headers from anywhere else are dropped
# (staff.forwarded_headers.ForwardedHeadersMiddleware). Empty trusts any address: only safe when
# nothing but the proxy can reach gunicorn, and `check --deploy` warns about it.
try:
    PORTAL_TRUSTED_PROXY_NETWORKS = [
        ipaddress.ip_network(network, strict=False) for network in env.list("TRUSTED_PROXY_NETWORKS", default=[])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXY_NETWORKS: {exc}") from None
if PORTAL_TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Staff sign-in: the company's identity provider, local accounts, second factors ---------------
# django-allauth does the sign-in flows (staff/README.md). Local accounts are made by an Admin,
# never by signing up; staff from the identity provider get an account at their first sign-in.

# The company's identity provider (OpenID Connect). Unset: local accounts only.
PORTAL_OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
if PORTAL_OIDC_ISSUER:
    _oidc_secret = _required_secret("OIDC_CLIENT_SECRET")
    _oidc_client_id = env.str("OIDC_CLIENT_ID")
else:
    _oidc_secret = _oidc_client_id = ""
PORTAL_OIDC_LABEL = env.str("OIDC_LABEL", default="your company's identity provider")
# The claim (in the ID token or the userinfo answer) that lists a staff member's groups, and
# which of those groups give each role. No mapped group: no access.
PORTAL_OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
PORTAL_OIDC_ROLE_GROUPS = {
    "Admin": env.list("OIDC_ADMIN_GROUPS", default=[]),
    "Editor": env.list("OIDC_EDITOR_GROUPS", default=[]),
    "Viewer": env.list("OIDC_VIEWER_GROUPS", default=[]),
}
# Who to ask for access, on the page a staff member without a mapped group sees.
PORTAL_ACCESS_CONTACT = env.str("PORTAL_ACCESS_CONTACT", default="your IT service desk")
# Local accounts (break-glass, and the demo). Off: the sign-in page offers the identity provider only.
PORTAL_LOCAL_SIGNIN = env.bool("PORTAL_LOCAL_SIGNIN", default=True)
# A local account must enrol a second factor before it sees anything else, and use it at every sign-in.
PORTAL_REQUIRE_MFA = env.bool("PORTAL_REQUIRE_MFA", default=not DEBUG)
# How recent a sign-in must be for a change that can lock a customer out (staff/recent_sign_in.py).
PORTAL_RECENT_AUTHENTICATION_SECONDS = env.int("RECENT_AUTHENTICATION_MINUTES", default=10, minimum=1) * 60

ACCOUNT_ADAPTER = "staff.adapters.StaffAccountAdapter"
SOCIALACCOUNT_ADAPTER = "staff.adapters.StaffSocialAccountAdapter"
MFA_ADAPTER = "staff.adapters.StaffMFAAdapter"
ACCOUNT_FORMS = {"login": "staff.forms.SignInForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True  # the cookie lives as long as the session: SESSION_IDLE_MINUTES, SESSION_MAX_HOURS
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = PORTAL_RECENT_AUTHENTICATION_SECONDS
# Failed passwords are counted by django-axes (staff/throttle.py); allauth's own count of them
# is off (staff.adapters), and its limit on second-factor codes stays.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}
SOCIALACCOUNT_ONLY = not PORTAL_LOCAL_SIGNIN
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # an account is the identity provider's issuer and subject, never an email
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # the sign-in page POSTs to start the flow, so no link can start it
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        # allauth's provider, with a nonce and the ID token's signature always checked (staff/identity.py).
        "provider_class": "staff.identity.CompanyIdentityProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "company",
                "name": PORTAL_OIDC_LABEL,
                "client_id": _oidc_client_id,
                "secret": _oidc_secret,
                "settings": {
                    "server_url": PORTAL_OIDC_ISSUER,
                    "scope": env.list("OIDC_SCOPES", default=["openid", "profile", "email", "groups"]),
                },
            }
        ]
        if PORTAL_OIDC_ISSUER
        else [],
    }
}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = False  # a security key is a second factor here, after the password
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Organization portal")
# WebAuthn needs HTTPS, except on a developer's own machine.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env.bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", default=False) or DEBUG
USERSESSIONS_TRACK_ACTIVITY = False  # the session's own expiry already moves (SessionLifetimeMiddleware)

# Failed sign-ins pause a username from one address, and from all addresses together except on
# browsers its user signed in with before (staff/throttle.py). Each pause ends by itself.
AXES_HANDLER = "staff.throttle.SignInThrottle"
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5, minimum=1)
PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT = env.int("SIGNIN_USERNAME_FAILURE_LIMIT", default=20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_COOLOFF_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
# Failures during a pause are not counted, so nobody can keep a pause going by hammering.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
PORTAL_DEVICE_COOKIE_NAME = "portal_device" if DEBUG else "__Host-portal_device"
PORTAL_DEVICE_COOKIE_AGE = 90 * 24 * 3600
# A sign-in clears only its own address's failures (staff.throttle.SignInThrottle.user_logged_in).
AXES_RESET_ON_SUCCESS = False
# The client's address, read from TRUSTED_PROXY_COUNT and TRUSTED_PROXY_NETWORKS. django-allauth's
# limits read the same function through its adapter (staff.adapters), so ALLAUTH_TRUSTED_PROXY_COUNT
# and ALLAUTH_TRUSTED_CLIENT_IP_HEADER stay unset: a second reading could only disagree with this one.
AXES_CLIENT_IP_CALLABLE = "staff.forwarded_headers.client_ip"
# allauth's sign-in form names its field "login", and hands authenticate() a "username".
AXES_USERNAME_CALLABLE = "staff.throttle.username_of"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Security headers ----------------------------------------------------------------------------

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# "__Host-": browsers accept these cookies only over HTTPS, for this host alone, on path "/", so
# neither a sibling subdomain nor plain HTTP can set or overwrite them.
if not DEBUG:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        # Signing in and out with the identity provider posts a form here that redirects there.
        "form-action": [SELF, *([_origin(PORTAL_OIDC_ISSUER)] if PORTAL_OIDC_ISSUER else [])],
    },
}

# --- Static files, i18n --------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files browsers and crawlers ask for at the site's root (favicon.ico, robots.txt), served by
# WhiteNoise ahead of sign-in.
WHITENOISE_ROOT = BASE_DIR / "public"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.time_zone("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Logging -------------------------------------------------------------------------------------

_log_levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "line": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The audit stream: one JSON line per stored entry, on standard output (the application's
        # log is on standard error), or appended to AUDIT_STREAM_FILE, for a log shipper.
        "audit_stream": (
            {"class": "logging.handlers.WatchedFileHandler", "filename": AUDIT_STREAM_FILE, "formatter": "line"}
            if (AUDIT_STREAM_FILE := env.str("AUDIT_STREAM_FILE", default=""))
            else {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "line"}
        ),
    },
    "loggers": {
        "orgadmin.audit.stream": {"handlers": ["audit_stream"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": env.choice("LOG_LEVEL", _log_levels, default="INFO", ignore_case=True)},
}

# --- The audit store's waits, its anchor, and what operators watch --------------------------------
# Kept as one block (README "Configuration", "Monitoring"): how long an append waits for the audit
# chain's lock before the page says the audit log is unavailable (and /healthz answers 503), where
# verify_audit keeps the head it verified (outside the database), and who may read /metrics.
AUDIT_LOCK_TIMEOUT = env.float("AUDIT_LOCK_TIMEOUT", default=2.0, positive=True)
AUDIT_ANCHOR_FILE = Path(env.text("AUDIT_ANCHOR_FILE") or BASE_DIR / "audit-anchor")
try:
    METRICS_NETWORKS = [
        ipaddress.ip_network(network, strict=False) for network in env.list("METRICS_NETWORKS", default=[])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_NETWORKS: {exc}") from None
METRICS_TOKEN = env.str("METRICS_TOKEN", default="").strip()
INSTALLED_APPS += ["monitoring"]
# Beside /healthz, ahead of host validation, the HTTPS redirect and sign-in: Prometheus scrapes each
# instance by its address over plain HTTP (monitoring/middleware.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("orgadmin.middleware.HealthCheckMiddleware") + 1, "monitoring.middleware.MetricsMiddleware"
)
