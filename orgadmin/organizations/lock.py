"""One write to an organization at a time: the lock that makes the edit guard's "read fresh, compare,
then send" one step.

The edit guard (`orgadmin.organizations.edit_guard`) compares the organization as the form was
opened with a fresh read, and sends only if nobody changed it. Two saves at once would both read the
old state, both pass, and both send: the second silently overwrites the first. So every path that
writes an organization after comparing it (a save, a delete, an approved change request being
sent) does its fresh read, its PUT or DELETE and the handling of its outcome inside
`held(organization_id)`. The second of two saves waits for the first to finish, then reads what the
first wrote, and the guard answers "changed meanwhile". It waits at most `wait_seconds()` (a call's
whole timeout and a margin); after that it raises `Busy` and the caller sends nothing.

- **PostgreSQL**: a session-level advisory lock (`pg_advisory_lock`) on the request's own database
  connection, keyed by the organization. It holds across every worker and instance on the database,
  and it is released in `finally`, or with the connection if its process dies (a killed worker
  holds nothing). It is a session lock, not a transaction's, because the audit protocol commits a
  write's attempt before the write is sent. The audit chain's lock (`audit.store`) is taken only
  inside the short transaction of one append, which never waits for this one, so the two cannot
  deadlock.
- **SQLite** (development): a lock per organization in the process. It holds among the threads of
  one process (`runserver`, the demo, the tests), not across processes; production runs PostgreSQL.

Either is taken again by what holds it already (a session's advisory locks stack; the process's is
re-entrant): a change request is recorded under the lock (`orgadmin.change_requests.requesting`)
by pages that hold it for their fresh read.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections, transaction

# The first key of every organization's advisory lock ("orgw"), so that they are told apart from
# any other lock of the two-key kind; the audit chain's lock is of the one-key kind.
NAMESPACE = 0x6F726777
# Beyond a call's whole timeout, how long a save waits for another save of the same organization.
MARGIN_SECONDS = 5
# PostgreSQL's SQLSTATE for "canceling statement due to lock timeout".
LOCK_NOT_AVAILABLE = "55P03"

BUSY = "Another save of this organization is in progress, so nothing was sent. Try again in a moment."


class Busy(Exception):
    """Another write of the organization held the lock for longer than `wait_seconds()`: nothing
    was read or sent. `message` is fit to show staff."""

    in_progress = True  # as the pages' templates ask any failure they show

    def __init__(self, message: str = BUSY) -> None:
        super().__init__(message)
        self.message = message


def wait_seconds() -> float:
    """How long a write waits for another of the same organization: the longest the other's call
    to Polytomic takes (POLYTOMIC_TOTAL_TIMEOUT), and a margin."""
    return float(settings.POLYTOMIC_TOTAL_TIMEOUT) + MARGIN_SECONDS


def lock_key(organization_id: UUID | str) -> tuple[int, int]:
    """The two keys of the organization's advisory lock: the namespace, and 31 bits of a digest of
    its id. Two organizations whose bits collide only wait for each other."""
    digest = hashlib.sha256(str(organization_id).lower().encode()).digest()
    return NAMESPACE, int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@contextmanager
def held(organization_id: UUID | str) -> Iterator[None]:
    """The organization's write lock, for the block; `Busy` if it is not free within `wait_seconds()`."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":
        with _advisory_lock(connection, lock_key(organization_id), wait_seconds()):
            yield
        return
    lock = _process_lock(str(organization_id).lower())
    if not lock.acquire(timeout=wait_seconds()):
        raise Busy
    try:
        yield
    finally:
        lock.release()


# One statement: the wait's bound is set first (the subquery), for this statement's own transaction
# only, and the lock taken; the lock outlives the statement (it is the session's).
LOCK = "SELECT pg_advisory_lock(%s, %s) FROM (SELECT set_config('lock_timeout', %s, true)) AS bounded"


@contextmanager
def _advisory_lock(connection, key: tuple[int, int], wait: float) -> Iterator[None]:
    # Inside a transaction of the caller's, a savepoint keeps a timeout from spoiling it.
    within = transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext()
    try:
        with within, connection.cursor() as cursor:
            cursor.execute(LOCK, [*key, f"{max(1, round(wait * 1000))}ms"])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise Busy from None
        raise
    try:
        yield
    finally:
        _release(connection, key)


def _release(connection, key: tuple[int, int]) -> None:
    """Unlocks; a connection that cannot is closed, which frees every lock it holds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(key))
    except DatabaseError:
        connection.close()


_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(organization_id: str) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(organization_id, threading.RLock())
