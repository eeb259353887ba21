"""Kept OIDC credentials (README, "Kept OIDC credentials"): Polytomic replaces OIDC in full on
every save and never returns the client id or secret, so a save of an organization with OIDC
must send them again. Staff who enter them may have them kept, encrypted under keys of their own
(PORTAL_OIDC_CREDENTIALS_KEYS, a MultiFernet: the newest encrypts, any decrypts), so that later
saves send them again byte for byte. Kept credentials are never shown; they leave the server only
in the PUT to Polytomic, are replaced whenever new ones are entered, and erased when OIDC is
removed or the organization deleted.

Kept or not, the keyed fingerprint of the last client secret sent (HMAC under a key of its own,
`staff.encryption.fingerprint`) lets a change summary say "unchanged" or "replaced" without
anyone seeing the secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format

from orgadmin.models import OidcCredentials
from orgadmin.polytomic.fields import REMEMBERED, SECRETS, OrganizationInput
from staff import encryption

FINGERPRINT_PURPOSE = "orgadmin.oidc-client-secret-fingerprint"
[SECRET] = SECRETS
KEEPING_IS_OFF = (
    "Keeping credentials is off: no PORTAL_OIDC_CREDENTIALS_KEYS is configured, so the client id and secret "
    "must be entered at every save."
)


class KeepingIsOff(Exception):
    """Credentials were to be kept with no key configured to encrypt them."""


class KeptUnreadable(Exception):
    """Kept credentials that none of the configured keys opens (a key dropped too early)."""


@dataclass(frozen=True)
class Kept:
    """That an organization's credentials are kept, since when and by whom: never the secret."""

    kept_at: datetime
    kept_by: str

    @property
    def on(self) -> str:
        return date_format(timezone.localtime(self.kept_at), "j F Y")


@dataclass(frozen=True)
class Choice:
    """What a save does with the OIDC credentials: keep those it sends, or send those kept; and
    its note on the client secret (`secret_note`)."""

    keep: bool = False
    resent: Kept | None = None
    note: str = ""


def keeping_is_on() -> bool:
    return bool(settings.PORTAL_OIDC_CREDENTIALS_KEYS)


def _fernet() -> MultiFernet:
    if not keeping_is_on():
        raise KeepingIsOff(KEEPING_IS_OFF)
    return MultiFernet([Fernet(key) for key in settings.PORTAL_OIDC_CREDENTIALS_KEYS])


def kept_credentials(organization_id: str) -> Kept | None:
    """Whether the organization's credentials are kept (one query, nothing decrypted)."""
    row = (
        OidcCredentials.objects.filter(organization_id=str(organization_id))
        .exclude(kept="")
        .values("kept_at", "kept_by")
        .first()
    )
    return Kept(**row) if row else None


def with_kept_credentials(organization_id: str, data: OrganizationInput) -> OrganizationInput:
    """`data` with the kept client id and secret in it, exactly as they were kept. Raises
    KeepingIsOff without a key, KeptUnreadable when no configured key opens them."""
    token = OidcCredentials.objects.filter(organization_id=str(organization_id)).values_list("kept", flat=True).first()
    try:
        kept = json.loads(_fernet().decrypt(token.encode()))
    except (AttributeError, InvalidToken, ValueError):
        raise KeptUnreadable(
            "The kept credentials cannot be opened with the configured keys: enter the client id and secret again."
        ) from None
    return OrganizationInput(**{**data.values(), REMEMBERED: kept[REMEMBERED], SECRET: kept[SECRET]})


def secret_note(organization_id: str, data: OrganizationInput, *, resent: Kept | None = None) -> str:
    """What a save does to the client secret, for its change summary and its audit entry: resent
    as kept, "unchanged" or "replaced" (against the fingerprint of the last one sent), "sent"
    when none is known to compare with, or nothing when it sends none."""
    if resent is not None:
        return f"resent as kept on {resent.on}"
    secret = data.body().get(SECRET, "")
    if not secret:
        return ""
    stored = (
        OidcCredentials.objects.filter(organization_id=str(organization_id))
        .values_list("secret_fingerprint", flat=True)
        .first()
    )
    if not stored:
        return "sent"
    return "unchanged" if encryption.is_fingerprint_of(FINGERPRINT_PURPOSE, secret, stored) else "replaced"


def credentials_sent(*, organization_id: str, data: OrganizationInput, keep: bool, resent: bool, by: str) -> None:
    """Records what a save Polytomic accepted sent: the secret's fingerprint, and the credentials
    kept when `keep` was chosen. New credentials entered without `keep` erase those kept before
    (they are no longer what Polytomic has); a save without OIDC erases everything."""
    sent = data.body()  # as the PUT sent them: kept so, they are sent again byte for byte
    secret = sent.get(SECRET, "")
    if not secret:
        credentials_erased(organization_id)
        return
    fingerprint = encryption.fingerprint(FINGERPRINT_PURPOSE, secret)
    values = {"secret_fingerprint": fingerprint, "secret_sent_at": timezone.now()}
    if keep and not resent:
        token = _fernet().encrypt(json.dumps({REMEMBERED: sent.get(REMEMBERED, ""), SECRET: secret}).encode())
        values |= {"kept": token.decode(), "kept_at": timezone.now(), "kept_by": by}
    elif not resent:
        values |= {"kept": "", "kept_at": None, "kept_by": ""}
    OidcCredentials.objects.update_or_create(organization_id=str(organization_id), defaults=values)


def credentials_erased(organization_id: str) -> None:
    """OIDC removed, or the organization deleted: nothing of its credentials stays."""
    OidcCredentials.objects.filter(organization_id=str(organization_id)).delete()


def credentials_rekeyed() -> int:
    """Re-encrypts every kept credential under the newest key (MultiFernet.rotate), so that the
    older keys can be dropped; returns how many."""
    fernet = _fernet()
    rekeyed = 0
    for row in OidcCredentials.objects.exclude(kept="").only("pk", "kept"):
        OidcCredentials.objects.filter(pk=row.pk, kept=row.kept).update(kept=fernet.rotate(row.kept.encode()).decode())
        rekeyed += 1
    return rekeyed
