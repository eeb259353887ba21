"""Settings of Django itself: the environment they are read from, the secrets, the applications,
middleware and templates, the database, the cache, static files and logging."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ
import jinja2

from portal.environment import PortalEnv
from portal.settings import variables

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# django-environ's FileAwareEnv, which also reads `<NAME>_FILE`, the path of a file holding the
# value (Docker and Kubernetes secrets) and taking precedence over `<NAME>`; strict about values,
# so a typo stops start-up instead of switching a safeguard off (portal/environment.py).
env = PortalEnv()
environ.Env.read_env(BASE_DIR / ".env")
env.refuse_renamed(variables.RENAMED)

# --- Django, and the secrets it has no default for outside DEBUG ---------------------------------

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="debug-only-secret-key-never-used-in-production-0123456789")
else:
    SECRET_KEY = env.secret("SECRET_KEY")

# Keys the audit log's hash chain (HMAC), so that whoever can write the database cannot rewrite
# the log so that it verifies. Outside the database, like SECRET_KEY; it must never change.
if DEBUG:
    AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="debug-only-audit-chain-key-never-used-in-production")
else:
    AUDIT_CHAIN_KEY = env.secret("AUDIT_CHAIN_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    # On the public setup host, nothing but /setup/ (README, "Customer self-serve SSO setup").
    "orgadmin.middleware.SetupHostMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A browser whose session was ended is told why on the sign-in page (staff/sign_out_notice.py).
    "staff.sign_out_notice.SignedOutNoticeMiddleware",
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
        # The rows of the long tables only (`{% table_rows %}`, orgadmin/templatetags/table_rows.py):
        # Jinja2 renders a row in a fraction of the time (docs/performance.md). Templates in an
        # app's jinja2/ folder.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"undefined": jinja2.StrictUndefined},
    },
]

# Forms and widgets: Django's own templates for them, rendered by Jinja2 (portal/renderers.py).
FORM_RENDERER = "portal.renderers.FormRenderer"

# --- Database ------------------------------------------------------------------------------------

# PostgreSQL in production; SQLite on a laptop and in the tests (psycopg is the only other driver).
_database_url = env.service_url(
    "DATABASE_URL", ("postgres", "postgresql", "sqlite"), default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
)
DATABASES = {"default": env.db_url_config(_database_url)}
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
# Default: a table of the default database (made by `migrate`, staff/migrations/0002_cache_table.py), so nothing
# more runs; a deployment with Redis sets CACHE_URL=redis://host:6379/0 (or rediss://). A
# per-process cache (locmemcache, dummycache) is for the tests: `check --deploy` warns about one.
PORTAL_CACHE_TABLE = "portal_cache"
_cache_url = env.service_url(
    "CACHE_URL", ("dbcache", "redis", "rediss", "locmemcache", "dummycache"), default=f"dbcache://{PORTAL_CACHE_TABLE}"
)
# Django's own Redis backend, which django-environ picks only when django-redis is not installed.
_redis = "django.core.cache.backends.redis.RedisCache" if urlsplit(_cache_url).scheme in {"redis", "rediss"} else None
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
# The audit stream: one JSON line per stored entry, on standard output (the application's log is
# on standard error), or appended to this file, for a log shipper (reopened when rotated).
AUDIT_STREAM_FILE = env.str("AUDIT_STREAM_FILE", default="") or None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "line": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "audit_stream": (
            {"class": "logging.handlers.WatchedFileHandler", "filename": AUDIT_STREAM_FILE, "formatter": "line"}
            if AUDIT_STREAM_FILE
            else {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "line"}
        ),
    },
    "loggers": {
        # The logger audit/store.py writes the stream to (its name predates the audit app).
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
PORTAL_METRICS_NETWORKS = env.networks("PORTAL_METRICS_NETWORKS")
PORTAL_METRICS_TOKEN = env.str("PORTAL_METRICS_TOKEN", default="").strip()
INSTALLED_APPS += ["monitoring"]
# Beside /healthz, ahead of host validation, the HTTPS redirect and sign-in: Prometheus scrapes each
# instance by its address over plain HTTP (monitoring/middleware.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("orgadmin.middleware.HealthCheckMiddleware") + 1, "monitoring.middleware.MetricsMiddleware"
)
