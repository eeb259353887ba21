"""Every use of django-allauth's internals, in one place: the few things the portal needs that
allauth does only in modules it does not publish (`allauth.*.internal`) or in a method it does not
document. `tests/test_allauth_internals.py` holds each to the library, so that an upgrade that moves
or changes one fails that test, not a sign-in. Nothing else in the portal imports allauth's internals.

- The session's record of how its staff member signed in: allauth keeps it for its own
  reauthentication and second factor, and publishes no reader of it.
- The ID token's signature: allauth's OpenID Connect adapter decodes the ID token in
  `_decode_id_token`, skipping the signature check when the token came straight from the token
  endpoint; the portal checks it always, with allauth's own key fetching (`jwtkit`).
"""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import HttpRequest


def authentication_records(request: HttpRequest, user: Any) -> list[dict]:
    """The session's sign-in steps, oldest first: each a dict with `method` ("password", "mfa",
    "socialaccount"), `at` (seconds since the epoch) and, by method, `provider` or `type`."""
    return get_authentication_records(request, user)


class SignatureCheckingAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OpenID Connect adapter, checking the ID token's signature against the provider's
    published keys every time, not only when the token came some other way than straight from
    the token endpoint."""

    def _decode_id_token(self, app: Any, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
