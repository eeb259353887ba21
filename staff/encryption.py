"""Secrets the portal must keep for a while (a change request's client secret until it is sent,
the keys of staff's authenticator apps): Fernet, under keys derived with HKDF from SECRET_KEY and
SECRET_KEY_FALLBACKS, one per purpose. A copy of the database alone opens none of them, and
rotating SECRET_KEY as Django documents (the old one among the fallbacks) keeps them readable.

Keyed fingerprints (HMAC-SHA256 under a key derived the same way, for a purpose of its own) let the
portal tell whether a secret is the one it saw before without keeping anything that reveals it."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def fernet(purpose: str) -> MultiFernet:
    """Encrypts with the key of SECRET_KEY; decrypts with it or with one of the fallbacks'."""
    secrets = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return MultiFernet([Fernet(_derived_key(secret, purpose)) for secret in secrets])


def _derived_key(secret: str, purpose: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret.encode())
    return base64.urlsafe_b64encode(key)


def fingerprint(purpose: str, value: str) -> str:
    """`value`'s keyed fingerprint, under the key SECRET_KEY derives for `purpose`."""
    return _fingerprint(settings.SECRET_KEY, purpose, value)


def is_fingerprint_of(purpose: str, value: str, stored: str) -> bool:
    """Whether `stored` is `value`'s fingerprint under SECRET_KEY or one of its fallbacks."""
    secrets = (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)
    return bool(stored) and any(hmac.compare_digest(_fingerprint(s, purpose, value), stored) for s in secrets)


def _fingerprint(secret: str, purpose: str, value: str) -> str:
    key = base64.urlsafe_b64decode(_derived_key(secret, purpose))
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
