"""The audit log as a store: append entries to its hash chain, with each entry's canonical content
and keyed hash, and stream every stored entry as a JSON line.

It knows what an entry is (`AuditEntry`), not what the entries are about: what a call to
Polytomic records is decided by `orgadmin.polytomic.recording`. Every entry is appended here;
`audit.verification` walks the chain, `audit.guard` is the database's guard, `audit.retention`
prunes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.dispatch import Signal

from audit.models import AuditEntry

# Every stored entry, one JSON line each, for the company's log pipeline (README, "Audit log").
stream_log = logging.getLogger("orgadmin.audit.stream")

# Where an entry is written when the caller is inside a transaction of its own (`database_for_entry`).
AUDIT_DB_ALIAS = "audit"


def database_for_entry() -> str:
    """The connection to write an entry on, so that it outlives a rollback of the caller's transaction.

    Normally the caller holds no transaction (the portal never keeps one open across a call to
    Polytomic) and the entry commits at once on the default connection. Inside a transaction the
    caller opened, PostgreSQL gets the entry through a second connection to the same database,
    committed on its own. SQLite allows one writer at a time, so a second connection would wait
    on the caller's own transaction: there the entry shares that transaction's fate.

    Whether the caller holds a transaction is Django's to say: a durable atomic block cannot open
    inside one, and Django's test-case wrapper transactions do not count as the caller's. Opened
    without a savepoint, the probe sends nothing to the database.
    """
    if AUDIT_DB_ALIAS not in connections.settings or transaction.get_autocommit(using=DEFAULT_DB_ALIAS):
        return DEFAULT_DB_ALIAS
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS, durable=True, savepoint=False):
            pass
    except RuntimeError:  # "A durable atomic block cannot be nested within another atomic block."
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
# Fields the chain covers since the write-ahead record (migration 0008), with their defaults.
LATER_HASHED_FIELDS = {"phase": "call", "attempt_id": None, "actor_signin": None, "change_request_id": None,
                       "correlation_id": None}  # fmt: skip


# Sent after every append, with `seconds` it took and `failure`: None, or `LOCK_TIMEOUT` when the
# chain's lock was not had in time, or `REFUSED` for any other failure (the monitoring app counts them).
appended = Signal()
LOCK_TIMEOUT, REFUSED = "lock_timeout", "refused"


def append(entry: AuditEntry, *, using: str | None = None) -> None:
    """Saves a new entry at the end of the chain: its hash covers its content and the last hash.
    By default on the connection `database_for_entry` chooses. Waits for the chain's lock at most
    AUDIT_LOCK_TIMEOUT seconds, then raises (a `DatabaseError`, `is_lock_timeout`)."""
    using = using or database_for_entry()
    make_storable(entry)
    connection = connections[using]
    started = time.monotonic()
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            _append_in_two_round_trips(entry, using)
        else:
            # Inside a transaction of the caller's (on PostgreSQL, only a test case's: the portal writes
            # through the `audit` connection then), a savepoint keeps a failed append from spoiling it.
            with _busy_timeout(using), transaction.atomic(using=using):
                _lock_chain(using)
                entry.previous_hash = last_hash(using=using)
                entry.entry_hash = entry_hash(entry)
                entry.save(using=using)
    except Exception as exc:
        failure = LOCK_TIMEOUT if is_lock_timeout(exc) else REFUSED
        appended.send_robust(sender=AuditEntry, seconds=time.monotonic() - started, failure=failure)
        raise
    appended.send_robust(sender=AuditEntry, seconds=time.monotonic() - started, failure=None)
    _stream([entry], using)


def _append_in_two_round_trips(entry: AuditEntry, using: str) -> None:
    """`append` on PostgreSQL, outside any transaction, in two messages to the server: begin,
    lock the chain and read the last hash; then insert the entry, its keyed hash computed here,
    and commit.

    The hash is keyed with a secret the database never sees (`entry_hash`), so it is computed
    here, between the two. The two messages are one transaction, rolled back if anything
    between them fails, so that the lock is never left held. Django's atomic block would take
    four round trips (begin, lock and read, insert, commit).
    """
    connection = connections[using]
    fields = [field for field in AuditEntry._meta.concrete_fields if field.attname not in _CHAINED]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    # Only names from the model's own metadata are put in the texts; every value is a parameter.
    last = f"SELECT COALESCE((SELECT entry_hash FROM {table} ORDER BY id DESC LIMIT 1), '')"  # noqa: S608
    # lock_timeout for this transaction alone: it bounds the wait for the chain's lock and any other.
    read_last = "BEGIN; SELECT set_config('lock_timeout', %s, true); SELECT pg_advisory_xact_lock(%s); " + last
    insert = (
        f"INSERT INTO {table} ({columns}, previous_hash, entry_hash) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(fields) + 2))}) RETURNING id; COMMIT"
    )
    values = [field.get_db_prep_save(field.pre_save(entry, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        try:
            cursor.execute(read_last, [f"{_lock_timeout_ms()}ms", CHAIN_LOCK_ID])
            cursor.nextset()  # past BEGIN
            cursor.nextset()  # past the lock timeout
            cursor.nextset()  # past the lock, to the last hash
            entry.previous_hash = cursor.fetchone()[0]
            entry.entry_hash = entry_hash(entry)
            cursor.execute(insert, [*values, entry.previous_hash, entry.entry_hash])
            entry.id = cursor.fetchone()[0]
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
    entry._state.adding = False
    entry._state.db = using


def append_many(entries: list[AuditEntry], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Appends entries in one insert, in the order given, chained like `append` (for seeding).

    Their ids are taken before they are hashed, so that an outcome may name its attempt in the
    same batch: set `entry.attempt` to the attempt's entry (it is not saved) and its `attempt_id`
    is filled in."""
    for entry in entries:
        make_storable(entry)
    with transaction.atomic(using=using):
        _lock_chain(using)
        for entry, entry_id in zip(entries, _take_ids(len(entries), using), strict=True):
            entry.id = entry_id
        previous = last_hash(using=using)
        for entry in entries:
            if getattr(entry, "attempt", None) is not None:
                entry.attempt_id = entry.attempt.id
            entry.previous_hash = previous
            entry.entry_hash = previous = entry_hash(entry)
        AuditEntry.objects.using(using).bulk_create(entries)
        _stream(entries, using)


def _take_ids(count: int, using: str) -> list[int]:
    """`count` ids no entry has or will be given by another writer: from the table's sequence on
    PostgreSQL; on SQLite, past the highest ever given (the write lock is held)."""
    connection = connections[using]
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "  # noqa: S608
            f"COALESCE((SELECT max(id) FROM {connection.ops.quote_name(table)}), 0))",
            [table],
        )
        start = cursor.fetchone()[0] + 1
    return list(range(start, start + count))


def _stream(entries: list[AuditEntry], using: str) -> None:
    """Each entry, once its transaction commits, as one JSON line on `stream_log`."""
    transaction.on_commit(lambda: _emit(entries), using=using, robust=True)


def _emit(entries: list[AuditEntry]) -> None:
    for entry in entries:
        stream_log.info(stream_line(entry))


def stream_line(entry: AuditEntry) -> str:
    """The entry as stored (masked, with its place in the chain) as one line of JSON, for a log
    shipper to forward."""
    fields = {field.attname: _as_json(getattr(entry, field.attname)) for field in entry._meta.concrete_fields}
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str)


def _as_json(value: Any) -> Any:
    """Times as UTC to the microsecond; anything else as it is."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(value, datetime) else value


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


def _lock_chain(using: str, timeout: float | None = None) -> None:
    """Takes the chain's lock for the rest of the transaction, waiting at most `timeout` seconds
    (AUDIT_LOCK_TIMEOUT by default). On PostgreSQL an advisory lock under `lock_timeout`, the
    caller's own lock_timeout put back once it is held, in one statement (`OFFSET 0` keeps each
    step a subquery of its own, run before the one around it); on SQLite the transaction already
    holds the one write lock, for which it waited at most its busy timeout (`_busy_timeout`)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', previous, true) FROM ("
                " SELECT previous, pg_advisory_xact_lock(%s) FROM ("
                "  SELECT current_setting('lock_timeout') AS previous, set_config('lock_timeout', %s, true) OFFSET 0"
                " ) AS timed OFFSET 0"
                ") AS locked",
                [CHAIN_LOCK_ID, f"{_lock_timeout_ms(timeout)}ms"],
            )


def _lock_timeout_ms(timeout: float | None = None) -> int:
    return max(1, round((settings.AUDIT_LOCK_TIMEOUT if timeout is None else timeout) * 1000))


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether an append failed waiting for a lock: PostgreSQL's lock_not_available (55P03), or
    SQLite's "database is locked" once its busy timeout passed."""
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) == "55P03" or "database is locked" in str(cause)


def can_append(*, timeout: float | None = None, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether an entry could be appended now, for /healthz: the chain's lock is had within
    `timeout` seconds (AUDIT_LOCK_TIMEOUT by default), and the portal's role may insert into the
    table. Writes nothing: the transaction is rolled back. On SQLite, whether the one write lock is
    had within `timeout` (the connection's busy timeout, for the probe)."""
    connection = connections[using]
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic(using=using), connection.cursor() as cursor:
                _lock_chain(using, timeout)
                cursor.execute("SELECT has_table_privilege(%s, 'INSERT')", [AuditEntry._meta.db_table])
                allowed = cursor.fetchone()[0]
                transaction.set_rollback(True, using=using)
            return bool(allowed)
        with _busy_timeout(using, timeout), transaction.atomic(using=using):  # BEGIN IMMEDIATE: the write lock
            transaction.set_rollback(True, using=using)
        return True
    except DatabaseError:
        return False


def accepts_entries(probe: AuditEntry, *, using: str | None = None) -> bool:
    """Whether the store takes an entry like `probe` now: it is appended, chain lock and all, in a
    transaction then rolled back. Nothing is kept, nor streamed; on PostgreSQL the probe uses up an
    id (the ids of failed appends are skipped too: the chain links hashes, not ids)."""
    using = using or database_for_entry()
    make_storable(probe)
    try:
        with _busy_timeout(using), transaction.atomic(using=using):
            _lock_chain(using)
            probe.previous_hash = probe.entry_hash = ""
            probe.save(using=using)
            transaction.set_rollback(True, using=using)
    except DatabaseError:
        return False
    return True


@contextlib.contextmanager
def _busy_timeout(using: str, timeout: float | None = None) -> Iterator[None]:
    """SQLite's busy timeout (how long a connection waits for the one write lock, SQLite's chain
    lock) set to `timeout` (AUDIT_LOCK_TIMEOUT by default) for the block, then put back. Set on the
    driver's connection itself: a setting of the connection, not a query of the portal's."""
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:  # a transaction holds the lock already
        yield
        return
    connection.ensure_connection()
    driver = connection.connection
    previous = driver.execute("PRAGMA busy_timeout").fetchone()[0]
    driver.execute(f"PRAGMA busy_timeout = {_lock_timeout_ms(timeout)}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(previous)}")


def last_hash(*, using: str = DEFAULT_DB_ALIAS) -> str:
    return AuditEntry.objects.using(using).order_by("-id").values_list("entry_hash", flat=True).first() or ""


def entry_hash(entry: AuditEntry) -> str:
    """HMAC-SHA256 over the previous hash and the entry's canonical content, keyed with
    AUDIT_CHAIN_KEY, which lives outside the database: whoever can write the table can still not
    change, forge or re-chain an entry so that it verifies."""
    return link_hash(chain_key_hmac(), entry.previous_hash, canonical_content(entry))


def chain_key_hmac(key: str | None = None) -> Any:
    """The keyed HMAC, ready to be copied for each entry (keying it once saves that per entry)."""
    return hmac.new((key or settings.AUDIT_CHAIN_KEY).encode(), digestmod=hashlib.sha256)


def link_hash(key: Any, previous_hash: str, content: str) -> str:
    """One link of the chain: the keyed hash of the previous hash and an entry's canonical content."""
    mac = key.copy()
    mac.update(f"{previous_hash}\n{content}".encode())
    return mac.hexdigest()


def canonical_content(entry: AuditEntry) -> str:
    """The hashed fields as JSON: sorted keys, UTC times to the microsecond. A field added to the
    chain later (`LATER_HASHED_FIELDS`) counts only where it differs from its default, so that
    the entries written before it still hash as they did."""
    # A migration's model from before a later field has none: it counts as its default.
    return canonical_of([getattr(entry, name) for name in HASHED_FIELDS], [
        getattr(entry, name, default) for name, default in LATER_HASHED_FIELDS.items()
    ])  # fmt: skip


# One encoder for every entry: `verify_audit` encodes a million of them.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_of(hashed: list[Any], later: list[Any]) -> str:
    """The canonical content from the hashed fields' values as read (a walk reads rows, not models)."""
    content = dict(zip(HASHED_FIELDS, hashed, strict=True))
    content["created_at"] = _as_json(content["created_at"])  # the one time among them
    for (name, default), value in zip(LATER_HASHED_FIELDS.items(), later, strict=True):
        if value != default:
            content[name] = value
    return _CANONICAL_JSON.encode(content)
