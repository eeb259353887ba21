"""The Idempotency-Key of a write to Polytomic, made the same way by every feature that writes."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings


def idempotency_key(*, form_key: str, action: str, target: str = "", body: dict | None = None) -> str:
    """The Idempotency-Key of one submission of a form: the form's own key, plus a keyed digest
    of what is done to what (the action, the organization, exactly the body sent).

    Resubmitting the same form with the same values (after a timeout, say) reuses the key, so
    Polytomic replays its first answer instead of acting twice. Anything else gets a key of its
    own: a corrected submission (Polytomic replays a key's first outcome, errors included, for a
    day), and the same form key used on another organization. The digest is keyed with
    SECRET_KEY, so the key reveals nothing of the client secret inside the body.
    """
    material = json.dumps([action, target, body], sort_keys=True).encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), material, hashlib.sha256).hexdigest()[:24]
    return f"{form_key}-{digest}"
