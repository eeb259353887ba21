"""How a call to Polytomic fails: one exception per kind of failure the pages treat apart, and
the one mapping from an answer (or its absence) to them. Every message is fit to show staff.

Points that public material does not settle are marked "(guess)": they are kept here, in one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from orgadmin.polytomic import people
from orgadmin.polytomic.fields import BY_NAME
from orgadmin.polytomic.text import as_sentence, whole_characters
from orgadmin.polytomic.transport import Answer

MESSAGE_MAX_LENGTH = 300


class PolytomicError(Exception):
    """A call to Polytomic did not succeed. `message` is safe to show to staff."""

    # Read by the pages that show a failure, which may also be the portal's own log's
    # (audit.protocol.AuditUnavailable, where it is True).
    audit_unavailable = False
    basic_auth_refused = False  # True for `PolytomicBasicAuthRefused`

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PolytomicUnavailable(PolytomicError):
    """Polytomic could not be reached or could not answer: connection refused or reset, DNS,
    timeout, 429, 5xx, or an answer that is not the JSON the contract promises."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PolytomicOutcomeUnknown(PolytomicUnavailable):
    """A write that may have reached Polytomic, and no answer that can be read says what came of
    it: the connection broke after it was sent, no answer came in time, or a success could not be
    read. Its outcome is *unknown*, never failed: the portal finds out by reading Polytomic
    (orgadmin/outcomes.py), and records what it found."""

    def __init__(self, detail: str, *, status: int | None = None, slow: bool = False) -> None:
        super().__init__(f"{MAY_HAVE_DONE_IT} {detail}".strip(), status=status)
        self.detail = detail
        # No answer in time: Polytomic is slow, and a read straight away would make the page wait as long again.
        self.slow = slow


# What a page says of a write whose outcome is unknown, until the portal has found out.
MAY_HAVE_DONE_IT = "Polytomic may have done this; the portal is checking."


class PolytomicAuthenticationError(PolytomicError):
    """401: Polytomic does not accept the portal's partner key."""


class PolytomicForbidden(PolytomicError):
    """403: the partner key may not do this to this organization."""


class PolytomicBasicAuthRefused(PolytomicError):
    """401 or 403 to a call made as an organization with HTTP Basic auth (its id, and the partner
    key): the roles and connections lists. Polytomic's Terraform provider calls them so; Polytomic's
    API reference does not promise that a partner key may (guess: that it does). The message names
    that cause and what to do, where a generic refusal would send staff looking at the key."""

    basic_auth_refused = True


def _basic_auth_refusal(status: int, message: str) -> PolytomicBasicAuthRefused:
    return PolytomicBasicAuthRefused(
        f"Polytomic refused the portal's call as this organization (HTTP {status}). The portal lists an "
        "organization's roles and the partner's connections with HTTP Basic auth (the organization's id and "
        "the partner API key), as Polytomic's own Terraform provider does; Polytomic's API reference does not "
        'promise that this works. What to do: an administrator runs "python manage.py check_polytomic", which '
        "tries this call and says whether it works, and if it does not, asks Polytomic support to let the "
        "partner key act as an organization (HTTP Basic). Meanwhile, roles and connections can be managed in "
        "Polytomic's own app." + (f" Polytomic said: {message}" if message else ""),
        status=status,
    )


class PolytomicNotFound(PolytomicError):
    """404: no such organization."""


class PolytomicValidationError(PolytomicError):
    """409 or 422: Polytomic refused the input.

    `field_errors` maps API field names (`name`, `issuer`, ...) to messages; `non_field_errors`
    holds the rest. `in_flight` is set for the 409 that means an earlier request with the same
    Idempotency-Key is still being processed, which says nothing about the input.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        field_errors: dict[str, list[str]] | None = None,
        non_field_errors: list[str] | None = None,
        in_flight: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.field_errors = field_errors or {}
        self.non_field_errors = non_field_errors or []
        self.in_flight = in_flight

    @property
    def name_taken(self) -> bool:
        """Whether Polytomic refused the name as another organization's: a 409 about the name
        (Polytomic's conflict), or a 422 that says so on the name or in its message (guess: its
        wording is not documented; see _NAME_TAKEN_WORDS)."""
        if self.in_flight:
            return False
        on_the_name = self.field_errors.get("name", [])
        if self.status == 409:
            return bool(on_the_name)
        said = [*on_the_name, *(m for m in (self.message, *self.non_field_errors) if _NAME_WORD.search(m))]
        return any(_NAME_TAKEN_WORDS.search(message) for message in said)


def error_message(answer: Answer, scrub: Callable[[str], str]) -> str:
    """Polytomic's message, found in the order its error shapes give it: `message`, `error` (a
    string), `error.message`, then the raw text, scrubbed and cut short. An HTML page (a proxy's
    502) is never shown."""
    payload = answer.json if answer.is_json else None
    if isinstance(payload, dict):
        if isinstance(payload.get("message"), str) and payload["message"].strip():
            return _short(payload["message"], scrub)
        error = payload.get("error")
        if isinstance(error, str) and error.strip():
            return _short(error, scrub)
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
            return _short(error["message"], scrub)
    text = answer.text.strip()
    content_type = answer.headers.get("Content-Type", "")
    if text and not answer.is_json and "html" not in content_type and not text.startswith("<"):
        return _short(text, scrub)
    return ""


def _short(text: str, scrub: Callable[[str], str]) -> str:
    """Upstream text as staff see it: the partner key and the secret sent removed first (before
    the cut, so that no part of them is left), white space folded, cut short, and made a sentence
    (`as_sentence`): every message of Polytomic's that a page, a change request or an onboarding
    step shows passes here."""
    text = " ".join(whole_characters(scrub(text)).split())
    if len(text) > MESSAGE_MAX_LENGTH:
        text = text[: MESSAGE_MAX_LENGTH - 2] + "…"
    return as_sentence(text)


def _retry_after_seconds(answer: Answer) -> float | None:
    value = answer.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def failure_for_answer(
    answer: Answer, *, idempotency_key: str, scrub: Callable[[str], str], as_organization: bool = False
) -> PolytomicError | None:
    """The exception for an answer that is not a success, or None for a 2xx. Every message in
    it is safe to show: Polytomic's words pass through `scrub` (see `_short`). `as_organization`:
    the call was made with HTTP Basic as an organization."""
    status = answer.status
    if 200 <= status < 300:
        return None
    message = error_message(answer, scrub)
    if as_organization and status in (401, 403):
        return _basic_auth_refusal(status, message)
    if status == 401:
        return PolytomicAuthenticationError(
            "Polytomic did not accept the portal's partner API key. An administrator must check the key."
            + (f" Polytomic said: {message}" if message else ""),
            status=status,
        )
    if status == 403:
        return PolytomicForbidden(message or "Polytomic does not allow this for this organization.", status=status)
    if status == 404:
        return PolytomicNotFound(message or "Polytomic has no such organization.", status=status)
    if status in (409, 422):
        return _validation_error(answer, message, idempotency_key=idempotency_key, scrub=scrub)
    if status == 429:
        retry_after = _retry_after_seconds(answer)
        wait = f" Try again in {retry_after:.0f} seconds." if retry_after else " Try again in a moment."
        return PolytomicUnavailable(
            "Polytomic is receiving too many requests." + wait, status=status, retry_after=retry_after
        )
    if status >= 500:
        return PolytomicUnavailable(
            f"Polytomic is not able to answer right now (HTTP {status}). Try again in a moment."
            + (f" Polytomic said: {message}" if message else ""),
            status=status,
        )
    return PolytomicError(
        f"Polytomic refused the request (HTTP {status})." + (f" Polytomic said: {message}" if message else ""),
        status=status,
    )


# The fields a 422's metadata may name: an organization's, and a user's (people.py).
FIELD_NAMES = frozenset(BY_NAME) | people.REQUEST_FIELDS

# (guess) How a 422 says a name is taken: nothing public gives its wording.
_NAME_TAKEN_WORDS = re.compile(r"already|exists|taken|in use|duplicate|unique", re.IGNORECASE)
_NAME_WORD = re.compile(r"\bname\b", re.IGNORECASE)

# (guess) Nothing public says how the idempotency-in-flight 409 reads; these words are how such
# answers are usually phrased. A 409 that mentions none of them is taken to be about the name.
_IN_FLIGHT_WORDS = re.compile(r"idempot|in[ -]?flight|in progress|already being processed|concurrent", re.IGNORECASE)


def _validation_error(
    answer: Answer, message: str, *, idempotency_key: str, scrub: Callable[[str], str]
) -> PolytomicValidationError:
    status = answer.status
    payload = answer.json if isinstance(answer.json, dict) else {}
    if status == 409:
        key = payload.get("key") if isinstance(payload.get("key"), str) else ""
        if idempotency_key and (_IN_FLIGHT_WORDS.search(message) or _IN_FLIGHT_WORDS.search(key)):
            return PolytomicValidationError(
                "The previous submission of this form is still being processed by Polytomic. "
                "Wait a moment, then reload the page to see its result.",
                status=status,
                in_flight=True,
            )
        name_message = message or "An organization with this name already exists."
        return PolytomicValidationError(name_message, status=status, field_errors={"name": [name_message]})
    field_errors, non_field_errors = _metadata_errors(payload.get("metadata"), scrub)
    headline = message or "Polytomic did not accept these values."
    if headline not in non_field_errors:
        non_field_errors.insert(0, headline)
    return PolytomicValidationError(
        headline, status=status, field_errors=field_errors, non_field_errors=non_field_errors
    )


def _metadata_errors(metadata: Any, scrub: Callable[[str], str]) -> tuple[dict[str, list[str]], list[str]]:
    """Field errors from a 422's free-form `metadata`: an object keyed by field name (guess), or
    an array of messages or of {field, message} objects (older clients saw an array)."""
    field_errors: dict[str, list[str]] = {}
    non_field_errors: list[str] = []

    def add(field_name: Any, value: Any) -> None:
        messages = [_short(m, scrub) for m in _messages(value)]
        if isinstance(field_name, str) and field_name in FIELD_NAMES:
            field_errors.setdefault(field_name, []).extend(messages or ["This value was not accepted."])
        else:
            non_field_errors.extend(messages)

    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            add(key, value)
    elif isinstance(metadata, list):
        for item in metadata:
            if isinstance(item, Mapping):
                add(item.get("field") or item.get("path"), item.get("message") or item.get("error"))
            else:
                add(None, item)
    return field_errors, non_field_errors


def _messages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [message for item in value for message in _messages(item)]
    if isinstance(value, Mapping):
        return _messages(value.get("message") or value.get("error"))
    return []


def failure_for_transport(
    exc: requests.RequestException, timeout: tuple[float, float], *, method: str
) -> PolytomicError:
    """The exception for a request that got no answer. A write that may have been sent (no
    answer in time, a connection broken after connecting) is `PolytomicOutcomeUnknown`; one that
    could not connect was not sent."""
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else exc
    # urllib3 makes a refused connection (NewConnectionError) a kind of ConnectTimeoutError.
    refused = isinstance(reason, NewConnectionError)
    not_connected = refused or isinstance(exc, requests.ConnectTimeout) or isinstance(reason, ConnectTimeoutError)
    timed_out = isinstance(exc, requests.Timeout) or isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))
    if timed_out and not refused:
        connect, read = timeout
        message = f"Polytomic did not answer in time (waited {connect:g} s to connect, {read:g} s for an answer)."
        if method != "GET" and not not_connected:
            return PolytomicOutcomeUnknown(message, slow=True)
        return PolytomicUnavailable(message)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or isinstance(reason, ProtocolError):
        message = "The connection to Polytomic broke before its answer arrived."
        if method != "GET":
            return PolytomicOutcomeUnknown(message)
        return PolytomicUnavailable(message)
    if isinstance(exc, requests.ConnectionError):
        return PolytomicUnavailable("The portal could not reach Polytomic. Try again in a moment.")
    return PolytomicUnavailable(f"The call to Polytomic failed ({type(exc).__name__}). Try again in a moment.")


def too_large(max_bytes: int, *, method: str, status: int | None = None) -> PolytomicUnavailable:
    message = f"Polytomic's answer was larger than the portal accepts ({max_bytes / 1024 / 1024:g} MB)."
    if method != "GET" and (status is None or 200 <= status < 300):
        return PolytomicOutcomeUnknown(message, status=status)
    return PolytomicUnavailable(message, status=status)


def too_slow(total_timeout: float, *, method: str) -> PolytomicUnavailable:
    message = f"Polytomic did not finish answering within {total_timeout:g} seconds."
    if method != "GET":
        return PolytomicOutcomeUnknown(message, slow=True)
    return PolytomicUnavailable(message)


def unreadable(status: int | None, *, method: str = "GET") -> PolytomicUnavailable:
    """A success whose body is not what the contract promises: for a write, Polytomic answered
    that it did something, and what cannot be read."""
    if method != "GET":
        return PolytomicOutcomeUnknown("Polytomic sent an answer the portal could not read.", status=status)
    message = "Polytomic sent an answer the portal could not read. Try again in a moment."
    return PolytomicUnavailable(message, status=status)
