"""What is done to text from Polytomic before anyone sees it or it is stored."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from uuid import UUID

REDACTED = "[redacted]"
SHORTEST_SECRET = 4  # a shorter value would redact ordinary words
# A secret echoed cut short still gives away its start: any run of its first characters this
# long or longer is redacted too.
SECRET_PREFIX = 10

# JSON may escape half of a UTF-16 surrogate pair ("\ud800"): Python reads it as a lone
# surrogate, which is no character, and no page holding one can be encoded.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Credentials after an authorization scheme, as an answer echoing the request's headers shows
# them, whole or cut short.
_CREDENTIALS = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def text_field(data: Mapping, name: str) -> str:
    """A text field of an object Polytomic sent: blank when missing or null, ValueError when it is
    not text, lone surrogates replaced (`whole_characters`)."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return whole_characters(value)


def uuid_text(value: str) -> str:
    """An id the contract says is a UUID, written as Python writes one (the pages' addresses take
    it so); ValueError when it is none. One already written so is kept as it is."""
    return value if _CANONICAL_UUID.fullmatch(value) else str(UUID(value))


def whole_characters(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, as a browser shows invalid text."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def scrubber(secrets: tuple[str, ...]) -> Callable[[str], str]:
    """A function that replaces each of the given secret values wherever it is in a text, whole
    or cut short (its first SECRET_PREFIX characters or more)."""
    values = sorted({secret for secret in secrets if secret and len(secret) >= SHORTEST_SECRET}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in values:
            text = text.replace(secret, REDACTED)
            if len(secret) > SECRET_PREFIX:
                text = _redact_starts(text, secret)
        return text

    return scrub


def _redact_starts(text: str, secret: str) -> str:
    """`text` with each run of the secret's first SECRET_PREFIX or more characters redacted."""
    head, parts, start = secret[:SECRET_PREFIX], [], 0
    while (found := text.find(head, start)) != -1:
        end = found + SECRET_PREFIX
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        parts += [text[start:found], REDACTED]
        start = end
    return "".join(parts) + text[start:] if parts else text


def shown_text_scrubber(secrets: tuple[str, ...]) -> Callable[[str], str]:
    """What removes a call's secrets from Polytomic's words before staff are shown them: each
    secret wherever it is, and any credentials after "Bearer" or "Basic"."""
    scrub = scrubber(secrets)

    def scrub_shown(text: str) -> str:
        return _CREDENTIALS.sub(lambda match: f"{match[1]} {REDACTED}", scrub(text))

    return scrub_shown
