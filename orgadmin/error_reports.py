"""What Django's error reports (the DEBUG page, mailed and logged reports) may show of a failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.views.debug import SafeExceptionReporterFilter

from orgadmin.polytomic.text import scrubber

# Settings whose values are hidden wherever they turn up, not only under their own names.
SECRET_SETTINGS = ("POLYTOMIC_PARTNER_API_KEY", "SECRET_KEY", "AUDIT_CHAIN_KEY")


class SecretHidingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's safe filter, active with DEBUG on as well, that also hides any local variable
    whose value holds the partner key, another secret setting, or a value of the request's
    sensitive POST parameters (the OIDC client secret), as it is or encoded (base64 as in HTTP
    Basic credentials, percent-encoded, hex: `orgadmin.polytomic.text.scrubber` finds them all).

    Django hides variables by name, and only in functions marked `sensitive_variables`; the
    frames of requests and urllib3 below the client hold the key in a header and the secret in
    the body under names of their own, and with DEBUG on Django shows everything. The partner
    key can rewire every customer's single sign-on: it is never shown, DEBUG or not.
    """

    def is_active(self, request: Any) -> bool:
        return True

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> list[tuple[str, Any]]:
        scrub = scrubber(_secret_values(request))
        return [
            (name, self.cleansed_substitute if _holds_any(value, scrub) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


def _secret_values(request: Any) -> tuple[str, ...]:
    values = [str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS]
    sensitive = getattr(request, "sensitive_post_parameters", None) if request is not None else None
    if sensitive:
        post = request.POST
        names = post.keys() if sensitive == "__ALL__" else sensitive
        values.extend(value for name in names for value in post.getlist(name))
    return tuple(values)


def _holds_any(value: Any, scrub: Callable[[str], str]) -> bool:
    try:
        texts = [repr(value)]
        if isinstance(value, bytes | bytearray | memoryview):
            texts.append(bytes(value).decode("utf-8", "replace"))
    except Exception:  # a value whose repr fails cannot be shown safely either
        return True
    return any(scrub(text) != text for text in texts)
