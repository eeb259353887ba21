"""Secrets the portal must keep for a while (a change request's client secret until it is sent,
the keys of staff's authenticator apps): Fernet, under keys derived with HKDF from SECRET_KEY and
SECRET_KEY_FALLBACKS, one per purpose. A copy of the database alone opens none of them, and
rotating SECRET_KEY as Django documents (the old one among the fallbacks) keeps them readable."""

from __future__ import annotations

import base64

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
