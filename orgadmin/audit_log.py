"""The audit log as a store: append entries to its hash chain, verify the chain, prune it.

It knows what an entry is (`AuditEntry`), not what the entries are about: what a call to
Polytomic records is decided by `orgadmin.polytomic.recording`. Every entry is appended here, and
only `prune` deletes any, through `deleting`, the one path the database's own guard lets through
(migration 0009).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from orgadmin.audit_worker_pool import worker_pool
from orgadmin.models import AuditEntry

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


def append(entry: AuditEntry, *, using: str | None = None) -> None:
    """Saves a new entry at the end of the chain: its hash covers its content and the last hash.
    By default on the connection `database_for_entry` chooses."""
    using = using or database_for_entry()
    make_storable(entry)
    connection = connections[using]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        _append_in_two_round_trips(entry, using)
    else:
        # Inside a transaction of the caller's (on PostgreSQL, only a test case's: the portal writes
        # through the `audit` connection then), a savepoint keeps a failed append from spoiling it.
        with transaction.atomic(using=using):
            _lock_chain(using)
            entry.previous_hash = last_hash(using=using)
            entry.entry_hash = entry_hash(entry)
            entry.save(using=using)
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
    read_last = "BEGIN; SELECT pg_advisory_xact_lock(%s); " + last
    insert = (
        f"INSERT INTO {table} ({columns}, previous_hash, entry_hash) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * (len(fields) + 2))}) RETURNING id; COMMIT"
    )
    values = [field.get_db_prep_save(field.pre_save(entry, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        try:
            cursor.execute(read_last, [CHAIN_LOCK_ID])
            cursor.nextset()  # past BEGIN
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


def _lock_chain(using: str) -> None:
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])


def last_hash(*, using: str = DEFAULT_DB_ALIAS) -> str:
    return AuditEntry.objects.using(using).order_by("-id").values_list("entry_hash", flat=True).first() or ""


def entry_hash(entry: AuditEntry) -> str:
    """HMAC-SHA256 over the previous hash and the entry's canonical content, keyed with
    AUDIT_CHAIN_KEY, which lives outside the database: whoever can write the table can still not
    change, forge or re-chain an entry so that it verifies."""
    return _hash(_chain_key(), entry.previous_hash, canonical_content(entry))


def _chain_key(key: str | None = None) -> Any:
    """The keyed HMAC, ready to be copied for each entry (keying it once saves that per entry)."""
    return hmac.new((key or settings.AUDIT_CHAIN_KEY).encode(), digestmod=hashlib.sha256)


def _hash(key: Any, previous_hash: str, content: str) -> str:
    mac = key.copy()
    mac.update(f"{previous_hash}\n{content}".encode())
    return mac.hexdigest()


def canonical_content(entry: AuditEntry) -> str:
    """The hashed fields as JSON: sorted keys, UTC times to the microsecond. A field added to the
    chain later (`LATER_HASHED_FIELDS`) counts only where it differs from its default, so that
    the entries written before it still hash as they did."""
    # A migration's model from before a later field has none: it counts as its default.
    return _canonical([getattr(entry, name) for name in HASHED_FIELDS], [
        getattr(entry, name, default) for name, default in LATER_HASHED_FIELDS.items()
    ])  # fmt: skip


# One encoder for every entry: `verify_audit` encodes a million of them.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _canonical(hashed: list[Any], later: list[Any]) -> str:
    content = dict(zip(HASHED_FIELDS, hashed, strict=True))
    content["created_at"] = _as_json(content["created_at"])  # the one time among them
    for (name, default), value in zip(LATER_HASHED_FIELDS.items(), later, strict=True):
        if value != default:
            content[name] = value
    return _CANONICAL_JSON.encode(content)


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str


@dataclass(frozen=True)
class Walk:
    """How far a walk of the chain got: the entries checked, the last one reached (its id and
    hash), and the first break, if any."""

    checked: int
    head_id: int | None
    head_hash: str
    broken: ChainBreak | None


# The columns a walk reads: what the hash covers, then the entry's id and links.
_WALKED = (*HASHED_FIELDS, *LATER_HASHED_FIELDS, "id", "previous_hash", "entry_hash")


# A log this long is walked in as many stretches, one process each, as the machine has cores.
PARALLEL_FROM_ENTRIES = 100_000


def walk_chain(
    *,
    after: tuple[int, str] | None = None,
    using: str = DEFAULT_DB_ALIAS,
    jobs: int | None = None,
    parallel_from: int = PARALLEL_FROM_ENTRIES,
) -> Walk:
    """Walks the chain oldest first, or only the entries after `after` (an entry's id and the hash
    it had when it was verified), checking each entry's hash and its link to the one before.

    From the start, the oldest remaining entry may link to an entry the retention command pruned:
    then a prune record must name that hash, or entries were removed some other way. Rows are
    read plain, not as model instances, in chunks. A log of `parallel_from` entries or more is cut
    into `jobs` stretches of ids (by default one per core), each walked by a process of its own
    (`orgadmin.audit_worker_pool`), and their ends then linked here: not inside a transaction, whose
    entries the processes, on connections of their own, could not see. The entries appended
    meanwhile are the next walk's.
    """
    bounds = AuditEntry.objects.using(using).aggregate(first=Min("id"), last=Max("id"))
    if bounds["last"] is None or (after is not None and after[0] >= bounds["last"]):
        return Walk(0, after[0] if after else None, after[1] if after else "", None)
    start = after[0] if after is not None else bounds["first"] - 1
    jobs = jobs or os.cpu_count() or 1
    key = settings.AUDIT_CHAIN_KEY  # handed to the processes: they read no setting made in this one
    if jobs < 2 or bounds["last"] - start < parallel_from or connections[using].in_atomic_block:
        stretches = [_walk_stretch(using, start, bounds["last"], key)]
    else:
        cuts = [start + (bounds["last"] - start) * n // jobs for n in range(jobs + 1)]
        with worker_pool(jobs, using=using) as pool:
            stretches = pool.starmap(_walk_stretch, [(using, a, b, key) for a, b in itertools.pairwise(cuts)])
    return _linked(stretches, after, using)


@dataclass(frozen=True)
class _Stretch:
    """A walk of the entries of ids (after_id, up_to_id]: the first one's link is left to check."""

    checked: int
    first_id: int | None
    first_previous: str
    last_id: int | None  # the last entry that verified
    last_hash: str
    broken: ChainBreak | None


def _walk_stretch(using: str, after_id: int, up_to_id: int, chain_key: str) -> _Stretch:
    key = _chain_key(chain_key)
    hashed, later = len(HASHED_FIELDS), len(HASHED_FIELDS) + len(LATER_HASHED_FIELDS)
    rows = AuditEntry.objects.using(using).filter(id__gt=after_id, id__lte=up_to_id).order_by("id")
    first_id, first_previous, previous, last_id, checked = None, "", None, None, 0
    for row in rows.values_list(*_WALKED).iterator(chunk_size=10_000):
        entry_id, previous_hash, stored_hash = row[later:]
        if first_id is None:
            first_id, first_previous = entry_id, previous_hash
        broken = None
        if _hash(key, previous_hash, _canonical(list(row[:hashed]), list(row[hashed:later]))) != stored_hash:
            broken = ChainBreak(entry_id, "its content does not match its hash: it was changed after it was written")
        elif previous is not None and previous_hash != previous:
            broken = ChainBreak(entry_id, LINK_BROKEN)
        if broken is not None:
            return _Stretch(checked, first_id, first_previous, last_id, previous or "", broken)
        previous, last_id = stored_hash, entry_id
        checked += 1
    return _Stretch(checked, first_id, first_previous, last_id, previous or "", None)


LINK_BROKEN = "its link to the entry before it is broken: an entry was removed or changed"


def _linked(stretches: list[_Stretch], after: tuple[int, str] | None, using: str) -> Walk:
    """The stretches as one walk: each one's first entry must link to the last of the one before
    (the first stretch's, to `after`, or to nothing but what prune_audit removed)."""
    checked, head_id, head_hash = 0, *(after or (None, ""))
    for stretch in stretches:
        if stretch.first_id is None:
            continue
        if head_id is None:
            if stretch.first_previous and not _pruned_up_to(stretch.first_previous, using=using):
                reason = "entries before it were removed, and not by prune_audit"
                return Walk(checked, head_id, head_hash, ChainBreak(stretch.first_id, reason))
        elif stretch.first_previous != head_hash:
            return Walk(checked, head_id, head_hash, ChainBreak(stretch.first_id, LINK_BROKEN))
        checked += stretch.checked
        if stretch.last_id is not None:
            head_id, head_hash = stretch.last_id, stretch.last_hash
        if stretch.broken is not None:
            return Walk(checked, head_id, head_hash, stretch.broken)
    return Walk(checked, head_id, head_hash, None)


def _pruned_up_to(hash_value: str, *, using: str) -> bool:
    return (
        AuditEntry.objects.using(using)
        .filter(action=AuditEntry.Action.PRUNE, request_body__last_pruned_hash=hash_value)
        .exists()
    )


# --- The database's guard ------------------------------------------------------------------------
#
# Migration 0009 has the database refuse UPDATE, DELETE and TRUNCATE of the table. Deletions pass
# only inside `deleting`: on PostgreSQL it sets PRUNE_SETTING for its own transaction; on SQLite,
# where a trigger cannot read a session setting, the DELETE trigger asks the connection's
# GUARD_FUNCTION, which answers what `deleting` set on the connection.

PRUNE_SETTING = "orgadmin.audit_prune"
GUARD_FUNCTION = "orgadmin_audit_deleting"


def register_guard(sender: Any, connection: Any, **kwargs: Any) -> None:
    """On each new SQLite connection of the portal's, the function the DELETE trigger asks
    (`connection_created`)."""
    if connection.vendor == "sqlite":
        connection.audit_deleting = False
        connection.connection.create_function(GUARD_FUNCTION, 0, lambda: connection.audit_deleting)


@contextlib.contextmanager
def deleting(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction in which the database lets entries be deleted (never changed): the one
    deliberate path, taken by `prune`. Whatever fails inside rolls the deletions back."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', true)", [PRUNE_SETTING])
            yield
            # Closed again for the rest of a caller's transaction; on failure, the rollback of
            # this block's transaction (or savepoint) undoes the setting with everything else.
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', true)", [PRUNE_SETTING])
            return
        connection.ensure_connection()
        connection.audit_deleting = True
        try:
            yield
        finally:
            connection.audit_deleting = False


# Per database: how many of migration 0009's triggers on the table (`%s`) are there and enabled, of how many.
_GUARD_COUNT = {
    "postgresql": (
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = 'orgadmin_audit_append_only'"
        " AND tgenabled <> 'D'",
        1,
    ),
    "sqlite": (
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s"
        " AND name IN ('orgadmin_audit_no_update', 'orgadmin_audit_no_delete')",
        2,
    ),
}


def guard_in_place(*, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the database's triggers of migration 0009 are there (a table rebuilt by hand, or
    restored without them, would have none)."""
    connection = connections[using]
    if connection.vendor not in _GUARD_COUNT:
        return False
    query, expected = _GUARD_COUNT[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(query, [AuditEntry._meta.db_table])
        return cursor.fetchone()[0] == expected


# --- Retention ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime
    count: int  # deleted, or that would be on a dry run
    batches: int


def prune(*, older_than_days: int, dry_run: bool = False, batch_size: int = 5000) -> Pruned:
    """Deletes the entries older than `older_than_days`, oldest first in batches, and records the
    run in the chain with the hash of the last entry it removed, so that what stays verifies.

    Only a contiguous oldest prefix of the chain goes: the first entry newer than the cutoff, and
    everything after it, stays. The only deletion of entries there is: one transaction, through
    `deleting`, in which the record is appended too.
    """
    started = time.monotonic()
    cutoff = timezone.now() - timedelta(days=older_than_days)
    first_kept_id = (
        AuditEntry.objects.filter(created_at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    )
    doomed = AuditEntry.objects.all()
    doomed = doomed.filter(id__lt=first_kept_id) if first_kept_id is not None else doomed
    boundary = doomed.order_by("-id").values("id", "entry_hash").first()
    total = deleted = batches = 0
    if boundary is not None:
        total = AuditEntry.objects.filter(id__lte=boundary["id"]).count()
    with deleting() if not dry_run else contextlib.nullcontext():
        # One transaction: the deletions and their record in the chain commit together, or neither.
        if not dry_run and boundary is not None:
            while ids := list(
                AuditEntry.objects.filter(id__lte=boundary["id"])
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            ):
                # The model's queryset refuses delete(), as the log is append-only: this is the one
                # exception, through Django's own QuerySet.delete() (nothing refers to an entry, so
                # it is one DELETE statement per batch).
                deleted += QuerySet.delete(AuditEntry.objects.filter(id__in=ids))[0]
                batches += 1
        count = total if dry_run else deleted
        append(
            AuditEntry(
                actor_username="system:prune_audit",
                action=AuditEntry.Action.PRUNE,
                method="",
                path="",
                request_body={
                    "older_than_days": older_than_days,
                    "cutoff": cutoff.isoformat(),
                    "dry_run": dry_run,
                    "deleted": 0 if dry_run else count,
                    "would_delete": count if dry_run else None,
                    "last_pruned_hash": boundary["entry_hash"] if boundary and not dry_run else None,
                    "last_pruned_id": boundary["id"] if boundary and not dry_run else None,
                },
                outcome=AuditEntry.Outcome.OK,
                duration_ms=round((time.monotonic() - started) * 1000),
            ),
            using=DEFAULT_DB_ALIAS,
        )
    return Pruned(cutoff=cutoff, count=count, batches=batches)
