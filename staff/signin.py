"""How the signed-in staff member signed in, read from django-allauth's record of the session's
authentication steps (password, second factor, identity provider)."""

from __future__ import annotations

from django.http import HttpRequest

from staff.allauth_internals import authentication_records

IDENTITY_PROVIDER = "socialaccount"
PASSWORD = "password"  # noqa: S105 (allauth's name for the method)
SECOND_FACTOR = "mfa"


def records(request: HttpRequest) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return []
    return authentication_records(request, user)


def method(request: HttpRequest) -> str:
    """What the audit log records of how the actor signed in: `idp:<provider>`, `password+<second
    factor>` (totp, webauthn, recovery_codes), `password` without one, or "" when the session
    says nothing (a session made before sign-in was recorded, or by a test's force_login)."""
    steps = records(request)
    provider = next((step.get("provider") for step in reversed(steps) if step["method"] == IDENTITY_PROVIDER), None)
    if provider is not None:
        return f"idp:{provider}"
    if not any(step["method"] == PASSWORD for step in steps):
        return ""
    factor = next((step.get("type") for step in reversed(steps) if step["method"] == SECOND_FACTOR), None)
    return f"{PASSWORD}+{factor}" if factor else PASSWORD


def is_local(request: HttpRequest) -> bool:
    """Signed in with a local account's password (or with nothing recorded: treated as local,
    so that no session escapes the second-factor rule)."""
    return not any(step["method"] == IDENTITY_PROVIDER for step in records(request))


def last_step_at(request: HttpRequest, *methods: str) -> float | None:
    """When the session last completed one of `methods` (seconds since the epoch)."""
    times = [step["at"] for step in records(request) if step["method"] in methods]
    return max(times) if times else None
