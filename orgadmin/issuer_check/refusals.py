"""What every step of the issuer check raises when it will not or cannot go on (`Refused`, with a
message for the operator), and `shown`, which fits text from a URL or a peer into such a message."""

from __future__ import annotations

SHOWN_CHARS = 200  # of a host or a named issuer, in a message


class Refused(Exception):
    """The URL may not be fetched, or the fetch failed; `message` says why, for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shown(text: str) -> str:
    """`text` from a URL or a peer, fit for a message: cut short, and a lone surrogate (which no
    page or database can encode) written as its escape."""
    text = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")
