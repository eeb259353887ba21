"""What is done to text from Polytomic before anyone sees it or it is stored."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# What may end a sentence Polytomic wrote; anything else is closed with a full stop.
SENTENCE_ENDS = (".", "!", "?", "…")  # "…": cut short (errors._short)


def as_sentence(text: str) -> str:
    """Polytomic's words as the portal shows them: a sentence, its first letter a capital and a
    full stop at its end ("organization name already exists" reads "Organization name already
    exists."). Blank text stays blank. The result is text: the page escapes it as any other."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].title() + text[1:]  # a title case, as "ǆ" or "ß" begin a sentence
    if not text.endswith(SENTENCE_ENDS):
        text = text.rstrip(",;:") + "."
    return text


def whole_characters(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, as a browser shows invalid text."""
    return text if text.isascii() else _LONE_SURROGATE.sub("\ufffd", text)


def scrubber(secrets: tuple[str, ...]) -> Callable[[str], str]:
    """A function that replaces each of the given secret values wherever it is in a text, whole
    or cut short (its first SECRET_PREFIX characters or more), as it is or in the encodings an
    answer may echo it in (`_encoded_forms`): percent-encoded, wholly or in part; base64 or
    base64url, alone or inside HTTP Basic credentials ("id:key", "key:", ":key"); hex."""
    values = {secret for secret in secrets if secret and len(secret) >= SHORTEST_SECRET}
    forms = [form for secret in sorted(values) for form in _encoded_forms(secret)]
    if not forms:
        return lambda text: text
    # Where any form's start is: most texts hold none, and are read once by this one expression.
    starts = re.compile("|".join(form.head_pattern() for form in forms))

    def scrub(text: str) -> str:
        runs, position = [], 0
        while (found := starts.search(text, position)) is not None:
            runs += [run for form in forms if (run := form.run_at(text, found.start())) is not None]
            position = found.start() + 1
        return _redacted(text, runs)

    return scrub


@dataclass(frozen=True)
class _Form:
    """A secret as some encoding writes it: for each unit (a character of the secret, or of its
    base64) the patterns that may stand for it, of which the first `head` units must all be
    there for a run to count."""

    units: tuple[tuple[str, ...], ...]
    head: int

    def head_pattern(self) -> str:
        return "".join(f"(?:{'|'.join(patterns)})" for patterns in self.units[: self.head])

    def run_at(self, text: str, start: int) -> tuple[int, int] | None:
        """The longest run of this form starting at `start` (its head, and as much of the rest
        as follows), if there is one. Every way of reading each unit is followed: "%25" may be
        a "%" percent-encoded, or a "%" then "25" of the secret itself."""
        ends, longest = {start}, start
        for index, patterns in enumerate(self.units):
            matches = (re.compile(pattern).match(text, end) for end in ends for pattern in patterns)
            ends = {found.end() for found in matches if found is not None}
            if not ends:
                return (start, longest) if index >= self.head else None
            longest = max(ends)
        return start, longest


def _encoded_forms(secret: str) -> list[_Form]:
    """The forms of `secret` to find (whole, or its first SECRET_PREFIX characters or more)."""
    prefix = min(len(secret), SECRET_PREFIX)
    percent = tuple(_percent_unit(character) for character in secret)
    hexadecimal = tuple(("".join(_hex_digit(digit) for digit in character.encode().hex()),) for character in secret)
    forms = [_Form(percent, prefix), _Form(hexadecimal, prefix)]
    data, head_bytes = secret.encode(), len(secret[:prefix].encode())
    for offset in range(3):
        # Behind `offset` bytes of anything (the "id:" of Basic credentials), the characters of
        # the base64 that the secret's bits alone decide: from the first whole sextet of the
        # secret to the last (the one after that holds bits of what follows).
        first, last = -(-offset * 8 // 6), (offset + len(data)) * 8 // 6
        encoded = base64.b64encode(bytes(offset) + data).decode()[first:last]
        units = tuple((_BASE64_UNITS.get(character, character),) for character in encoded)
        head = (offset + head_bytes) * 8 // 6 - first if head_bytes < len(data) else len(units)
        if head >= SHORTEST_SECRET:
            forms.append(_Form(units, head))
    return forms


# base64url writes "-" and "_" where base64 writes "+" and "/": one pattern reads both.
_BASE64_UNITS = {"+": "[+-]", "/": "[/_]"}


def _percent_unit(character: str) -> tuple[str, ...]:
    """The character as it is, or percent-encoded (hex digits in either case; "+" for a space)."""
    encoded = "".join("%" + "".join(_hex_digit(digit) for digit in f"{byte:02x}") for byte in character.encode())
    return (re.escape(character), encoded, *([re.escape("+")] if character == " " else []))


def _hex_digit(digit: str) -> str:
    return f"[{digit}{digit.upper()}]" if digit.isalpha() else digit


def _redacted(text: str, runs: list[tuple[int, int]]) -> str:
    """`text` with each run, or each set of runs that overlap, replaced by REDACTED."""
    if not runs:
        return text
    parts, kept_from = [], 0
    for start, end in sorted(runs):
        if start >= kept_from:
            parts += [text[kept_from:start], REDACTED]
        kept_from = max(kept_from, end)
    return "".join(parts) + text[kept_from:]


def shown_text_scrubber(secrets: tuple[str, ...]) -> Callable[[str], str]:
    """What removes a call's secrets from Polytomic's words before staff are shown them: each
    secret wherever it is, and any credentials after "Bearer" or "Basic"."""
    scrub = scrubber(secrets)

    def scrub_shown(text: str) -> str:
        return _CREDENTIALS.sub(lambda match: f"{match[1]} {REDACTED}", scrub(text))

    return scrub_shown
