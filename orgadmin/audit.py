"""The audit record of calls to Polytomic: who asked, from where, and what came of it.

Only the client (`orgadmin.polytomic`) writes entries, one per call, through `record_call`. Bodies
are masked by allowlist before they are stored: a field this module does not know is redacted,
`client_secret` is kept only as whether one was sent, and the partner key never appears.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from orgadmin.http import client_ip

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest
    from requests import Response

    from orgadmin.models import AuditEntry
    from orgadmin.polytomic import PolytomicError

logger = logging.getLogger(__name__)

# Where an entry is written when the caller is inside a transaction of its own (see `_database_for_entry`).
AUDIT_DB_ALIAS = "audit"

REDACTED = "[redacted]"
# What `CallRecord.payload` holds until the body is read as JSON, and once it failed to be.
NOT_READ, NOT_JSON = object(), object()
SET = "[set]"
RESPONSE_BODY_MAX_CHARS = 8000
# Levels of a JSON answer that are masked and kept; deeper ones are stored as TOO_DEEP.
MASK_MAX_DEPTH = 32
TOO_DEEP = "[nested too deep]"
USER_AGENT_MAX_CHARS = 512

# Request fields stored as sent. Everything else is redacted, except the secret, stored as "[set]".
REQUEST_FIELDS_KEPT = frozenset({"name", "sso_domain", "sso_org_id", "issuer", "client_id"})
SECRET_FIELDS = frozenset({"client_secret"})
# Keys kept, at any depth, in response bodies: the Organization schema and the error shapes.
RESPONSE_KEYS_KEPT = frozenset(
    {"data", "id", "name", "sso_domain", "sso_org_id", "issuer", "client_id"}
    | {"status", "message", "key", "metadata", "error", "code", "context", "field", "path"}
)


@dataclass(frozen=True)
class AuditContext:
    """Who is calling and from where, passed explicitly from the view through the service."""

    actor: AbstractBaseUser | None
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""
    # For calls made by the portal itself (commands), what to record as the actor.
    actor_label: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest) -> AuditContext:
        user = getattr(request, "user", None)
        return cls(
            actor=user if user is not None and user.is_authenticated else None,
            request_id=getattr(request, "request_id", ""),
            client_ip=client_ip(request) or None,
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX_CHARS],
        )

    @property
    def actor_username(self) -> str:
        return self.actor.get_username() if self.actor is not None else self.actor_label


@dataclass
class CallRecord:
    """What `PolytomicClient._call` learns about one call, as it happens."""

    context: AuditContext
    action: str
    method: str
    path: str
    request_body: dict[str, Any] | None = None
    idempotency_key: str = ""
    organization_id: str = ""
    organization_name: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    status: int | None = None
    response_text: str = ""
    api_version: str = ""
    upstream_request_id: str = ""
    error: PolytomicError | None = None
    payload: Any = field(default=NOT_READ, repr=False)  # the body read as JSON, once the client has

    def response(self, response: Response) -> None:
        """The answer's status and headers, as they arrive (the client sets `response_text`
        once it has read the body)."""
        self.status = response.status_code
        self.api_version = response.headers.get("X-Polytomic-Version", "")[:32]
        self.upstream_request_id = (response.headers.get("X-Request-ID") or response.headers.get("Request-Id") or "")[
            :128
        ]

    def identify(self, *, organization_id: str, organization_name: str) -> None:
        self.organization_id = self.organization_id or organization_id
        self.organization_name = self.organization_name or organization_name

    def fail(self, error: PolytomicError) -> None:
        self.error = error

    @property
    def outcome(self) -> str:
        if self.error is None:
            return "ok"
        if self.status is not None and 400 <= self.status < 500:
            return "rejected"
        return "failed"


def record_call(record: CallRecord, *, duration_ms: float, attempts: int) -> None:
    """Writes the one audit entry of a call. A failure to write is logged, never raised: the call
    to Polytomic has already happened, and hiding its result would invite a repeat."""
    from orgadmin.models import AuditEntry

    scrub = scrubber(record.secrets)
    try:
        request_body = mask_request_body(record.request_body)
        response_body = mask_response_body(record.response_text, scrub, payload=record.payload)
    except Exception as exc:  # whatever Polytomic sent, the call is still recorded
        logger.exception("Audit entry of %s %s: the bodies could not be masked", record.method, record.path)
        request_body, response_body = {"not_recorded": type(exc).__name__}, f"[not recorded: {type(exc).__name__}]"
    actor = record.context.actor
    entry = AuditEntry(
        actor_id=actor.pk if actor is not None else None,
        actor_username=record.context.actor_username[:150],
        action=record.action,
        method=record.method,
        path=record.path[:500],
        organization_id=record.organization_id[:64],
        organization_name=scrub(record.organization_name)[:255],
        request_body=request_body,
        response_status=record.status,
        response_body=response_body,
        outcome=record.outcome,
        error_message=scrub(record.error.message) if record.error is not None else "",
        duration_ms=max(0, round(duration_ms)),
        attempts=attempts,
        idempotency_key=record.idempotency_key,
        request_id=record.context.request_id[:64],
        api_version=record.api_version,
        upstream_request_id=scrub(record.upstream_request_id),
        client_ip=record.context.client_ip,
        user_agent=scrub(record.context.user_agent)[:USER_AGENT_MAX_CHARS],
    )
    try:
        append(entry, using=_database_for_entry())
    except Exception:
        logger.exception(
            "Audit entry could not be written: %s %s %s -> %s", record.action, record.method, record.path, record.status
        )


def _database_for_entry() -> str:
    """The connection to write an entry on, so that it outlives a rollback of the caller's transaction.

    Normally the caller holds no transaction (the portal never keeps one open across a call to
    Polytomic) and the entry commits at once on the default connection. Inside a transaction the
    caller opened, PostgreSQL gets the entry through a second connection to the same database,
    committed on its own. SQLite allows one writer at a time, so a second connection would wait
    on the caller's own transaction: there the entry shares that transaction's fate.
    Django's test-case wrapper transactions do not count as the caller's, as for durable blocks.
    """
    blocks = connections[DEFAULT_DB_ALIAS].atomic_blocks
    in_callers_transaction = bool(blocks) and not blocks[-1]._from_testcase
    if in_callers_transaction and AUDIT_DB_ALIAS in connections.settings:
        return AUDIT_DB_ALIAS
    return DEFAULT_DB_ALIAS


# --- The hash chain ----------------------------------------------------------------------------------

# Serialises appends across processes and instances on PostgreSQL ("orgadmin" in ASCII). SQLite
# needs none: the portal opens its transactions IMMEDIATE, taking the one write lock first.
CHAIN_LOCK_ID = 0x6F726761646D696E
# Set by the chain, not by the entry's writer.
_CHAINED = frozenset({"id", "previous_hash", "entry_hash"})
HASHED_FIELDS = (
    "created_at",
    "actor_id",
    "actor_username",
    "action",
    "method",
    "path",
    "organization_id",
    "organization_name",
    "request_body",
    "response_status",
    "response_body",
    "outcome",
    "error_message",
    "duration_ms",
    "attempts",
    "idempotency_key",
    "request_id",
    "api_version",
    "upstream_request_id",
    "client_ip",
    "user_agent",
)


def append(entry: AuditEntry, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Saves a new entry at the end of the chain: its hash covers its content and the last hash."""
    make_storable(entry)
    if connections[using].vendor == "postgresql":
        _append_in_two_round_trips(entry, using)
        return
    with transaction.atomic(using=using):
        _lock_chain(using)
        entry.previous_hash = last_hash(using=using)
        entry.entry_hash = entry_hash(entry)
        entry.save(using=using)


def _append_in_two_round_trips(entry: AuditEntry, using: str) -> None:
    """`append` on PostgreSQL in two messages to the server: begin, lock the chain and read the
    last hash; then insert the entry, its keyed hash computed here, and commit.

    The hash is keyed with a secret the database never sees (`entry_hash`), so it is computed
    here, between the two. Inside a transaction of the caller's, the entry joins it (the lock is
    then held until it ends), as Django's own atomic blocks would; otherwise the two messages
    are one transaction of their own, rolled back if anything between them fails, so that the
    lock is never left held. Django's atomic block would take four round trips.
    """
    from orgadmin.models import AuditEntry

    connection = connections[using]
    own_transaction = not connection.in_atomic_block
    fields = [field for field in AuditEntry._meta.concrete_fields if field.attname not in _CHAINED]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    # Only names from the model's own metadata are put in the texts; every value is a parameter.
    last = f"SELECT COALESCE((SELECT entry_hash FROM {table} ORDER BY id DESC LIMIT 1), '')"  # noqa: S608
    read_last = ("BEGIN; " if own_transaction else "") + "SELECT pg_advisory_xact_lock(%s); " + last
    insert = (
        f"INSERT INTO {table} ({columns}, previous_hash, entry_hash) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(fields) + 2))}) RETURNING id" + ("; COMMIT" if own_transaction else "")
    )
    values = [field.get_db_prep_save(field.pre_save(entry, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        try:
            cursor.execute(read_last, [CHAIN_LOCK_ID])
            for _ in range(2 if own_transaction else 1):  # past BEGIN and the lock, to the last hash
                cursor.nextset()
            entry.previous_hash = cursor.fetchone()[0]
            entry.entry_hash = entry_hash(entry)
            cursor.execute(insert, [*values, entry.previous_hash, entry.entry_hash])
            entry.id = cursor.fetchone()[0]
        except BaseException:
            if own_transaction:
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
            raise
    entry._state.adding = False
    entry._state.db = using


def append_many(entries: list[AuditEntry], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Appends entries in one insert, in the order given, chained like `append` (for seeding)."""
    from orgadmin.models import AuditEntry

    for entry in entries:
        make_storable(entry)
    with transaction.atomic(using=using):
        _lock_chain(using)
        previous = last_hash(using=using)
        for entry in entries:
            entry.previous_hash = previous
            entry.entry_hash = previous = entry_hash(entry)
        AuditEntry.objects.using(using).bulk_create(entries)


def make_storable(entry: AuditEntry) -> None:
    """Makes every text of the entry one that both databases store, then cuts it to its column.

    PostgreSQL's text and jsonb refuse NUL, and no database takes a lone surrogate (it is not
    UTF-8): a name or an answer holding either would make every entry about it fail. Both are
    written as visible escapes (`\\x00`, `\\ud800`), before the entry is hashed.
    """
    for column in entry._meta.concrete_fields:
        value = getattr(entry, column.attname)
        if isinstance(value, str):
            value = storable(value)
            if column.max_length is not None:
                value = value[: column.max_length]
            setattr(entry, column.attname, value)
        elif isinstance(value, dict | list):
            setattr(entry, column.attname, storable(value))


def storable(value: Any) -> Any:
    """`value` with NUL and lone surrogates in its texts (and keys) written as escapes."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\\x00")
        return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def last_hash(*, using: str = DEFAULT_DB_ALIAS) -> str:
    from orgadmin.models import AuditEntry

    return AuditEntry.objects.using(using).order_by("-id").values_list("entry_hash", flat=True).first() or ""


def entry_hash(entry: AuditEntry) -> str:
    """HMAC-SHA256 over the previous hash and the entry's canonical content, keyed with
    AUDIT_CHAIN_KEY, which lives outside the database: whoever can write the table can still not
    change, forge or re-chain an entry so that it verifies."""
    content = f"{entry.previous_hash}\n{canonical_content(entry)}".encode()
    return hmac.new(settings.AUDIT_CHAIN_KEY.encode(), content, hashlib.sha256).hexdigest()


def canonical_content(entry: AuditEntry) -> str:
    """The hashed fields as JSON: sorted keys, UTC times to the microsecond."""
    content = {}
    for name in HASHED_FIELDS:
        value = getattr(entry, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        content[name] = value
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str


def verify_chain(*, using: str = DEFAULT_DB_ALIAS, chunk_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walks the chain oldest first: the number of entries checked, and the first break if any.

    The oldest remaining entry may link to an entry the retention command pruned: then a prune
    record must name that hash, or entries were removed some other way.
    """
    from orgadmin.models import AuditEntry

    previous: str | None = None
    checked = 0
    for entry in AuditEntry.objects.using(using).order_by("id").iterator(chunk_size=chunk_size):
        if entry_hash(entry) != entry.entry_hash:
            return checked, ChainBreak(
                entry.id, "its content does not match its hash: it was changed after it was written"
            )
        if previous is None:
            if entry.previous_hash and not _pruned_up_to(entry.previous_hash, using=using):
                return checked, ChainBreak(entry.id, "entries before it were removed, and not by prune_audit")
        elif entry.previous_hash != previous:
            return checked, ChainBreak(
                entry.id, "its link to the entry before it is broken: an entry was removed or changed"
            )
        previous = entry.entry_hash
        checked += 1
    return checked, None


def _pruned_up_to(hash_value: str, *, using: str) -> bool:
    from orgadmin.models import AuditEntry

    return (
        AuditEntry.objects.using(using)
        .filter(action=AuditEntry.Action.PRUNE, request_body__last_pruned_hash=hash_value)
        .exists()
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


def mask_response_body(text: str, scrub, *, payload: Any = NOT_READ) -> str:
    """The body as stored: JSON masked by allowlist, other text with known secrets removed; both
    capped. `payload` is the body already read as JSON, when the caller has read it."""
    if not text:
        return ""
    if payload is NOT_READ:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
            payload = NOT_JSON
    if payload is NOT_JSON:
        stored = scrub(text)
    else:
        masked = _mask_json(payload, scrub, RESPONSE_BODY_MAX_CHARS)
        stored = json.dumps(masked, ensure_ascii=False, separators=(",", ":"))
    if len(stored) > RESPONSE_BODY_MAX_CHARS:
        stored = f"{stored[:RESPONSE_BODY_MAX_CHARS]}… [cut: {len(text):,} characters in all]"
    return stored


def _mask_json(value: Any, scrub, limit: int, depth: int = 0) -> Any:
    """`value` masked, bounded in depth and in size: an object or a list only as far as its
    items' JSON reaches `limit` characters, and a text cut there, since the stored text is cut
    there anyway (a list of a thousand organizations is not masked whole); below
    MASK_MAX_DEPTH levels, a marker."""
    if depth >= MASK_MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        masked, length = {}, 0
        for key, item in value.items():
            if length > limit:
                break
            name = scrub(str(key))
            if key in SECRET_FIELDS:
                masked[name] = SET if item else None
            elif key in RESPONSE_KEYS_KEPT or key in REQUEST_FIELDS_KEPT:
                masked[name] = _mask_json(item, scrub, limit, depth + 1)
            else:
                masked[name] = REDACTED
            length += len(name) + len(_compact(masked[name])) + 4
        return masked
    if isinstance(value, list):
        items, length = [], 0
        for item in value:
            if length > limit:
                break
            items.append(_mask_json(item, scrub, limit, depth + 1))
            length += len(_compact(items[-1])) + 1
        return items
    if isinstance(value, str):
        return scrub(value)[: limit + 1]
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def scrubber(secrets: tuple[str, ...]):
    """A function that removes any of the given secret values from a text."""
    values = sorted({secret for secret in secrets if secret and len(secret) >= 4}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in values:
            text = text.replace(secret, REDACTED)
        return text

    return scrub
