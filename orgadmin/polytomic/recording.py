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

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.polytomic import connections, entities, people
from orgadmin.polytomic.errors import PolytomicOutcomeUnknown
from orgadmin.polytomic.fields import FIELDS
from orgadmin.polytomic.text import REDACTED, shown_text_scrubber

if TYPE_CHECKING:
    from orgadmin.polytomic.errors import PolytomicError
    from orgadmin.polytomic.transport import Answer

logger = logging.getLogger(__name__)

SET = "[set]"
RESPONSE_BODY_MAX_CHARS = 8000
# Levels of a JSON answer that are masked and kept; deeper ones are stored as TOO_DEEP.
MASK_MAX_DEPTH = 32
TOO_DEEP = "[nested too deep]"

SECRET_FIELDS = frozenset(f.name for f in FIELDS if f.secret)
# Request fields stored as sent; any other is redacted, and a secret one is stored as "[set]".
REQUEST_FIELDS_KEPT = (
    frozenset(f.name for f in FIELDS if not f.secret) | people.REQUEST_FIELDS | connections.SHARE_FIELDS
)
# Keys kept, at any depth, in answers: the envelope, the organization's id and fields, and the
# keys of Polytomic's error shapes (ApiError, and the older 401 and 422 shapes).
RESPONSE_KEYS_KEPT = (
    REQUEST_FIELDS_KEPT | people.ANSWER_FIELDS | connections.ANSWER_FIELDS | entities.ANSWER_FIELDS | {"data", "id"}
    | {"status", "message", "key", "metadata", "error", "code", "context", "field", "path"}
)  # fmt: skip


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
    # What the client secret sent is, beside "[set]" ("resent as kept on ..."): never the secret.
    secret_note: str = ""

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
        if isinstance(self.error, PolytomicOutcomeUnknown):  # sent, and no answer says what came of it
            return AuditEntry.Outcome.UNKNOWN
        if self.status is not None and 400 <= self.status < 500:
            return AuditEntry.Outcome.REJECTED
        return AuditEntry.Outcome.FAILED


def record_attempt(record: CallRecord) -> None:
    """Writes and commits the attempt of a write before it is sent: who, what, to what, the masked
    body, the idempotency key and the request id. Raises AuditUnavailable (nothing sent) if it
    cannot: then the write must not be sent (the client does not send it)."""
    fields = _fields(record, scrubber=shown_text_scrubber(record.secrets))
    fields["attempts"] = 0  # none made yet: the outcome counts them
    entry = _record(record, AuditEntry.Phase.ATTEMPT, fields, nothing_sent=True)
    record.attempt_id = entry.id


def record_call(record: CallRecord, *, duration_ms: float) -> None:
    """Writes the entry of a call once it is over: a read's one entry, or a write's outcome, which
    names its attempt. Raises AuditUnavailable if it cannot: a read's answer is then not shown (no
    record would cover it); after a write the client lets it pass, the attempt standing in the log
    with its outcome unknown."""
    scrub = shown_text_scrubber(record.secrets)  # as for the messages shown to staff: Admins read these
    phase = AuditEntry.Phase.OUTCOME if record.attempt_id is not None else AuditEntry.Phase.CALL
    fields = _fields(record, scrubber=scrub)
    try:
        fields["response_body"] = mask_answer(record.answer, scrub) if record.answer is not None else ""
    except Exception as exc:  # whatever Polytomic sent, the call is still recorded
        logger.exception("Audit entry of %s %s: the answer could not be masked", record.method, record.path)
        fields["response_body"] = f"[not recorded: {type(exc).__name__}]"
    fields.update(
        response_status=record.status,
        outcome=record.outcome,
        error_message=scrub(record.error.message) if record.error is not None else "",
        duration_ms=max(0, round(duration_ms)),
        attempts=record.attempts,
        api_version=record.api_version,
        upstream_request_id=scrub(record.upstream_request_id),
    )
    if phase == AuditEntry.Phase.OUTCOME:
        fields.update(attempt_id=record.attempt_id, request_body=None)  # the body is the attempt's
    _record(record, phase, fields, nothing_sent=False)


def _fields(record: CallRecord, *, scrubber: Callable[[str], str]) -> dict[str, Any]:
    """The entry's what and to what, which an attempt and its outcome both carry (the who is the
    context's, which `audit_protocol.entry` fills in)."""
    try:
        request_body = mask_request_body(record.request_body)
        for name in SECRET_FIELDS & set(request_body or {}):
            if request_body[name] == SET and record.secret_note:
                request_body[name] = f"{SET} {record.secret_note}"
    except Exception as exc:
        logger.exception("Audit entry of %s %s: the request could not be masked", record.method, record.path)
        request_body = {"not_recorded": type(exc).__name__}
    return {
        "method": record.method,
        "path": record.path,
        "organization_id": record.organization_id,
        "organization_name": scrubber(record.organization_name),
        "request_body": request_body,
        "outcome": AuditEntry.Outcome.UNKNOWN,
        "idempotency_key": record.idempotency_key,
        "user_agent": scrubber(record.context.user_agent),
    }


def _record(record: CallRecord, phase: str, fields: dict[str, Any], *, nothing_sent: bool) -> AuditEntry:
    return audit_protocol.record(
        record.context,
        action=record.action,
        phase=phase,
        nothing_sent=nothing_sent,
        what=f"the {phase} of {record.method} {record.path}",
        **fields,
    )


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
