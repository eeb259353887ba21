"""Settings of staff sign-in: passwords and sessions, the proxies in front of the portal (whose
headers say who the client is), the company's identity provider, local accounts with their second
factors (django-allauth), and sign-in throttling (django-axes). staff/README.md says how they work."""

from __future__ import annotations

from datetime import timedelta

from portal.settings.base import DEBUG, env

# --- Passwords and sessions ----------------------------------------------------------------------

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
SESSION_COOKIE_AGE = env.int("PORTAL_SESSION_IDLE_MINUTES", default=30, minimum=1) * 60
# An active session's expiry is pushed back at most once a minute (SessionLifetimeMiddleware),
# not on every request: the idle timeout holds to within that minute.
PORTAL_SESSION_REFRESH = 60
# Absolute maximum, however active the session: enforced by SessionLifetimeMiddleware.
PORTAL_SESSION_MAX_AGE = env.int("PORTAL_SESSION_MAX_HOURS", default=12, minimum=1) * 3600

# --- The proxies in front of the portal ----------------------------------------------------------

# Reverse proxies in front of the portal that append to X-Forwarded-For and set X-Forwarded-Proto.
# 0 means clients connect directly: forwarded headers are ignored, as anyone could send them.
PORTAL_TRUSTED_PROXY_COUNT = env.int("PORTAL_TRUSTED_PROXY_COUNT", default=0, minimum=0)
# The addresses those proxies connect from: forwarded headers from anywhere else are dropped
# (staff.forwarded_headers.ForwardedHeadersMiddleware). Empty trusts any address: only safe when
# nothing but the proxy can reach gunicorn, and `check --deploy` warns about it.
PORTAL_TRUSTED_PROXY_NETWORKS = env.networks("PORTAL_TRUSTED_PROXY_NETWORKS")
if PORTAL_TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Staff sign-in: the company's identity provider, local accounts, second factors ---------------
# django-allauth does the sign-in flows (staff/README.md). Local accounts are made by an Admin,
# never by signing up; staff from the identity provider get an account at their first sign-in.

# The company's identity provider (OpenID Connect). Unset: local accounts only.
PORTAL_OIDC_ISSUER = env.str("PORTAL_OIDC_ISSUER", default="").rstrip("/")
if PORTAL_OIDC_ISSUER:
    _oidc_secret = env.secret("PORTAL_OIDC_CLIENT_SECRET")
    _oidc_client_id = env.str("PORTAL_OIDC_CLIENT_ID")
else:
    _oidc_secret = _oidc_client_id = ""
PORTAL_OIDC_LABEL = env.str("PORTAL_OIDC_LABEL", default="your company's identity provider")
# The claim (in the ID token or the userinfo answer) that lists a staff member's groups, and
# which of those groups give each role. No mapped group: no access.
PORTAL_OIDC_GROUPS_CLAIM = env.str("PORTAL_OIDC_GROUPS_CLAIM", default="groups")
PORTAL_OIDC_ROLE_GROUPS = {
    "Admin": env.list("PORTAL_OIDC_ADMIN_GROUPS", default=[]),
    "Editor": env.list("PORTAL_OIDC_EDITOR_GROUPS", default=[]),
    "Viewer": env.list("PORTAL_OIDC_VIEWER_GROUPS", default=[]),
}
# Who to ask for access, on the page a staff member without a mapped group sees.
PORTAL_ACCESS_CONTACT = env.str("PORTAL_ACCESS_CONTACT", default="your IT service desk")
# Local accounts (break-glass, and the demo). Off: the sign-in page offers the identity provider only.
PORTAL_LOCAL_SIGNIN = env.bool("PORTAL_LOCAL_SIGNIN", default=True)
# A local account must enrol a second factor before it sees anything else, and use it at every sign-in.
PORTAL_REQUIRE_MFA = env.bool("PORTAL_REQUIRE_MFA", default=not DEBUG)
# How recent a sign-in must be for a change that can lock a customer out (staff/recent_sign_in.py).
PORTAL_RECENT_AUTHENTICATION_MINUTES = env.int("PORTAL_RECENT_AUTHENTICATION_MINUTES", default=10, minimum=1)

ACCOUNT_ADAPTER = "staff.adapters.StaffAccountAdapter"
SOCIALACCOUNT_ADAPTER = "staff.adapters.StaffSocialAccountAdapter"
MFA_ADAPTER = "staff.adapters.StaffMFAAdapter"
ACCOUNT_FORMS = {"login": "staff.forms.SignInForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = True  # the cookie lives as long as the session
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = PORTAL_RECENT_AUTHENTICATION_MINUTES * 60
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
                    "scope": env.list("PORTAL_OIDC_SCOPES", default=["openid", "profile", "email", "groups"]),
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

# --- Sign-in throttling ---------------------------------------------------------------------------

# Failed sign-ins pause a username from one address, and from all addresses together except on
# browsers its user signed in with before (staff/throttle.py). Each pause ends by itself.
AXES_HANDLER = "staff.throttle.SignInThrottle"
AXES_FAILURE_LIMIT = env.int("PORTAL_SIGNIN_FAILURE_LIMIT", default=5, minimum=1)
PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT = env.int("PORTAL_SIGNIN_USERNAME_FAILURE_LIMIT", default=20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_SIGNIN_COOLOFF_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
# Failures during a pause are not counted, so nobody can keep a pause going by hammering.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
PORTAL_DEVICE_COOKIE_NAME = "portal_device" if DEBUG else "__Host-portal_device"
PORTAL_DEVICE_COOKIE_AGE = 90 * 24 * 3600
# A sign-in clears only its own address's failures (staff.throttle.SignInThrottle.user_logged_in).
AXES_RESET_ON_SUCCESS = False
# The client's address, read from PORTAL_TRUSTED_PROXY_COUNT and PORTAL_TRUSTED_PROXY_NETWORKS. django-allauth's
# limits read the same function through its adapter (staff.adapters), so ALLAUTH_TRUSTED_PROXY_COUNT
# and ALLAUTH_TRUSTED_CLIENT_IP_HEADER stay unset: a second reading could only disagree with this one.
AXES_CLIENT_IP_CALLABLE = "staff.forwarded_headers.client_ip"
# allauth's sign-in form names its field "login", and hands authenticate() a "username".
AXES_USERNAME_CALLABLE = "staff.throttle.username_of"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
