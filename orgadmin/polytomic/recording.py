"""What the audit log records of a call to Polytomic: who asked, from where, what was sent and
what came back, masked.

Bodies are masked by allowlist before they are stored: a field this module does not know is
redacted, a secret field (`client_secret`) is kept only as whether one was sent, and the partner
key and the secret sent never appear anywhere in the entry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from orgadmin import audit_log
from orgadmin.models import AuditEntry
from orgadmin.polytomic import connections, people
from orgadmin.polytomic.fields import FIELDS
from orgadmin.polytomic.text import REDACTED, shown_text_scrubber

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from orgadmin.polytomic.errors import PolytomicError
    from orgadmin.polytomic.transport import Answer

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")

SET = "[set]"
RESPONSE_BODY_MAX_CHARS = 8000
# Levels of a JSON answer that are masked and kept; deeper ones are stored as TOO_DEEP.
MASK_MAX_DEPTH = 32
TOO_DEEP = "[nested too deep]"
USER_AGENT_MAX_CHARS = 512

SECRET_FIELDS = frozenset(f.name for f in FIELDS if f.secret)
# Request fields stored as sent; any other is redacted, and a secret one is stored as "[set]".
REQUEST_FIELDS_KEPT = (
    frozenset(f.name for f in FIELDS if not f.secret) | people.REQUEST_FIELDS | connections.SHARE_FIELDS
)
# Keys kept, at any depth, in answers: the envelope, the organization's id and fields, and the
# keys of Polytomic's error shapes (ApiError, and the older 401 and 422 shapes).
RESPONSE_KEYS_KEPT = REQUEST_FIELDS_KEPT | people.ANSWER_FIELDS | connections.ANSWER_FIELDS | {"data", "id"} | {
    "status", "message", "key", "metadata", "error", "code", "context", "field", "path"
}  # fmt: skip


@dataclass(frozen=True)
class AuditContext:
    """Who is calling and from where, passed explicitly from the view through the service."""

    actor: AbstractBaseUser | None
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""
    # For calls made by the portal itself (commands), what to record as the actor.
    actor_label: str = ""
    # How the actor signed in (staff.signin.method): the identity provider, or which second factor.
    actor_signin: str = ""
    # The change request the call carries out, if any (orgadmin/change_requests.py).
    change_request_id: int | None = None
    # The onboarding flow the call is part of, if any (orgadmin/onboarding.py).
    correlation_id: UUID | None = None

    @property
    def actor_username(self) -> str:
        return self.actor.get_username() if self.actor is not None else self.actor_label


@dataclass
class CallRecord:
    """What the client learns about one call, as it happens."""

    context: AuditContext
    action: str
    method: str
    path: str
    request_body: dict[str, Any] | None = None
    idempotency_key: str = ""
    organization_id: str = ""
    organization_name: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # Asked as this organization (HTTP Basic, its id and the partner key), not as the partner.
    as_organization: str = ""
    status: int | None = None
    api_version: str = ""
    upstream_request_id: str = ""
    answer: Answer | None = field(default=None, repr=False)
    error: PolytomicError | None = None
    attempts: int = 1
    attempt_id: int | None = None  # a write's attempt entry, once recorded

    def answered(self, *, status: int, headers: Any) -> None:
        """The answer's status and headers, as they arrive (its body may still fail to)."""
        self.status = status
        self.api_version = headers.get("X-Polytomic-Version", "")[:32]
        self.upstream_request_id = (headers.get("X-Request-ID") or headers.get("Request-Id") or "")[:128]

    def identify(self, *, organization_id: str, organization_name: str) -> None:
        self.organization_id = self.organization_id or organization_id
        self.organization_name = self.organization_name or organization_name

    def fail(self, error: PolytomicError) -> None:
        self.error = error

    @property
    def outcome(self) -> str:
        if self.error is None:
            return AuditEntry.Outcome.OK
        if self.status is not None and 400 <= self.status < 500:
            return AuditEntry.Outcome.REJECTED
        return AuditEntry.Outcome.FAILED


class NotRecorded(Exception):
    """The audit log could not record a call (the database refused or could not be reached)."""


def record_attempt(record: CallRecord) -> None:
    """Writes and commits the attempt of a write before it is sent: who, what, to what, the masked
    body, the idempotency key and the request id. Raises NotRecorded if it cannot: then the
    write must not be sent (the client does not send it)."""
    entry = _entry(record, scrubber=shown_text_scrubber(record.secrets), phase=AuditEntry.Phase.ATTEMPT)
    entry.attempts = 0  # none made yet: the outcome counts them
    _append(entry, record, "attempt")
    record.attempt_id = entry.id


def record_call(record: CallRecord, *, duration_ms: float) -> None:
    """Writes the entry of a call once it is over: a read's one entry, or a write's outcome, which
    names its attempt. Raises NotRecorded if it cannot: a read's answer is then not shown (no
    record would cover it); after a write it is logged by the caller, the attempt standing in the
    log with its outcome unknown."""
    scrub = shown_text_scrubber(record.secrets)  # as for the messages shown to staff: Admins read these
    phase = AuditEntry.Phase.OUTCOME if record.attempt_id is not None else AuditEntry.Phase.CALL
    entry = _entry(record, scrubber=scrub, phase=phase)
    try:
        entry.response_body = mask_answer(record.answer, scrub) if record.answer is not None else ""
    except Exception as exc:  # whatever Polytomic sent, the call is still recorded
        logger.exception("Audit entry of %s %s: the answer could not be masked", record.method, record.path)
        entry.response_body = f"[not recorded: {type(exc).__name__}]"
    entry.response_status = record.status
    entry.outcome = record.outcome
    entry.error_message = scrub(record.error.message) if record.error is not None else ""
    entry.duration_ms = max(0, round(duration_ms))
    entry.attempts = record.attempts
    entry.api_version = record.api_version
    entry.upstream_request_id = scrub(record.upstream_request_id)
    if phase == AuditEntry.Phase.OUTCOME:
        entry.attempt_id = record.attempt_id
        entry.request_body = None  # it is the attempt's
    _append(entry, record, phase)


def _entry(record: CallRecord, *, scrubber: Callable[[str], str], phase: str) -> AuditEntry:
    """The entry's who, what and to what, which an attempt and its outcome both carry."""
    try:
        request_body = mask_request_body(record.request_body)
    except Exception as exc:
        logger.exception("Audit entry of %s %s: the request could not be masked", record.method, record.path)
        request_body = {"not_recorded": type(exc).__name__}
    actor = record.context.actor
    return AuditEntry(
        phase=phase,
        actor_id=actor.pk if actor is not None else None,
        actor_username=record.context.actor_username,
        actor_signin=record.context.actor_signin or None,
        change_request_id=record.context.change_request_id,
        correlation_id=record.context.correlation_id,
        action=record.action,
        method=record.method,
        path=record.path,
        organization_id=record.organization_id,
        organization_name=scrubber(record.organization_name),
        request_body=request_body,
        outcome=AuditEntry.Outcome.UNKNOWN,
        duration_ms=0,
        idempotency_key=record.idempotency_key,
        request_id=record.context.request_id,
        client_ip=record.context.client_ip,
        user_agent=scrubber(record.context.user_agent),
    )


def _append(entry: AuditEntry, record: CallRecord, what: str) -> None:
    try:
        audit_log.append(entry)  # texts are made storable and cut to their columns there
    except Exception as exc:
        logger.exception("Audit %s could not be written: %s %s %s", what, record.action, record.method, record.path)
        security_log.error(
            "The audit log could not record the %s of %s %s by %s: %s",
            what, record.method, record.path, record.context.actor_username or "-", type(exc).__name__,
        )  # fmt: skip
        raise NotRecorded(what) from exc


# --- Masking -----------------------------------------------------------------------------------------


def mask_request_body(body: dict[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    masked: dict[str, Any] = {}
    for key, value in body.items():
        if key in SECRET_FIELDS:
            masked[key] = SET if value else None
        elif key in REQUEST_FIELDS_KEPT:
            masked[key] = value
        else:
            masked[key] = REDACTED
    return masked


def mask_answer(answer: Answer, scrub: Callable[[str], str]) -> str:
    """The body as stored: JSON masked by allowlist, other text with known secrets removed; both
    capped. The JSON is the client's reading of the body, not read again here."""
    if not answer.text:
        return ""
    if answer.is_json:
        masked = _mask_json(answer.json, scrub, RESPONSE_BODY_MAX_CHARS)
        stored = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
    else:
        stored = scrub(answer.text)
    if len(stored) > RESPONSE_BODY_MAX_CHARS:
        stored = f"{stored[:RESPONSE_BODY_MAX_CHARS]}… [cut: {len(answer.text):,} characters in all]"
    return stored


def _mask_json(value: Any, scrub: Callable[[str], str], limit: int, depth: int = 0) -> Any:
    """`value` masked, bounded in depth and in size: an object or a list only as far as its
    items' JSON reaches `limit` characters, and a text cut there, since the stored text is cut
    there anyway (a list of a thousand organizations is not masked whole); below
    MASK_MAX_DEPTH levels, a marker."""
    return _masked(value, scrub, limit, depth)[0]


def _masked(value: Any, scrub: Callable[[str], str], limit: int, depth: int) -> tuple[Any, int]:
    """`_mask_json`'s work: the masked value, and a lower bound of the length of its compact JSON
    (escapes only lengthen a text), counted as it is built instead of serialising each part again:
    a part is masked while what comes before it is shorter than `limit`, so the stored text, cut
    there, is all masked."""
    if depth >= MASK_MAX_DEPTH:
        return TOO_DEEP, len(TOO_DEEP) + 2
    if isinstance(value, dict):
        masked, length = {}, 1  # "{", then each item and the comma or "}" after it
        for key, item in value.items():
            if length > limit:
                break
            name = scrub(str(key))
            if key in SECRET_FIELDS:
                masked[name], size = (SET, len(SET) + 2) if item else (None, 4)
            elif key in RESPONSE_KEYS_KEPT:
                masked[name], size = _masked(item, scrub, limit, depth + 1)
            else:
                masked[name], size = REDACTED, len(REDACTED) + 2
            length += len(name) + size + 4
        return masked, length
    if isinstance(value, list):
        items, length = [], 1
        for item in value:
            if length > limit:
                break
            item, size = _masked(item, scrub, limit, depth + 1)
            items.append(item)
            length += size + 1
        return items, length
    if isinstance(value, str):
        text = scrub(value)[: limit + 1]
        return text, len(text) + 2
    return value, len(_compact(value))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
