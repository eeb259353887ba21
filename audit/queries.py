"""The audit log's queries for staff: one row per call, filtered and paged by keyset (`audit_rows`,
`audit_page`), one entry with its other half (`audit_entry`), the export, the latest rows of an
organization or a flow (`latest_rows`), the changes alone (`CHANGES`), the organization names
the log holds (`organization_names`, `newest_names`), and the writes whose outcome is unknown
(`unresolved_attempts`, for `verify_audit`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from audit.models import READ_ACTIONS, AuditEntry
from audit.store import HASHED_FIELDS

# --- The audit log, for staff ----------------------------------------------------------------------
#
# Staff see one row per call: a read's entry, a write's outcome entry (which carries who, what and
# to what as its attempt does), and the attempt of a write whose outcome is not recorded: in flight,
# or cut short by a crash, shown with the outcome unknown.

AUDIT_PAGE_SIZE = 50
_CURSOR = re.compile(r"(?P<micros>[0-9]{1,18})-(?P<id>[0-9]{1,19})")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ENTRY_ID = 2**63 - 1  # the largest id a BigAutoField holds
NEWEST_FIRST, OLDEST_FIRST = ("-created_at", "-id"), ("created_at", "id")

# The changes: writes (attempts and outcomes), their resolutions, change requests' steps, sessions
# ended and every action but the reads (audit.models.READ_ACTIONS). The condition of the index
# `audit_changes_time`, written alike so that the planners match it.
CHANGES = ~Q(action__in=READ_ACTIONS)

# The distinct organization names the log holds are walked one index probe a name, up to this
# many (the suggestions, and the names a name filter matches); a name filter reads the entries of
# at most MATCHED_NAMES of them.
NAMES_WALKED = 2000
MATCHED_NAMES = 50

# The export's columns: the entry's id, what its hash covers but the bodies and the actor's id
# (the username is kept), then its place in a write and its hash.
EXPORT_COLUMNS = (
    "id",
    *(name for name in HASHED_FIELDS if name not in {"actor_id", "request_body", "response_body"}),
    "phase",
    "attempt_id",
    "actor_signin",
    "change_request_id",
    "correlation_id",
    "entry_hash",
)


@dataclass(frozen=True)
class AuditCursor:
    """A position in the log, newest first: an entry's time and id. Written as `<µs since epoch>-<id>`."""

    created_at: datetime
    id: int

    def __str__(self) -> str:
        micros = int(self.created_at.timestamp()) * 1_000_000 + self.created_at.microsecond
        return f"{micros}-{self.id}"

    @classmethod
    def parse(cls, value: str | None) -> AuditCursor | None:
        """The cursor a page link carries; None for anything else (a time or id out of range
        included), which is the first page."""
        match = _CURSOR.fullmatch(value or "")
        if match is None or int(match["id"]) > MAX_ENTRY_ID:
            return None
        try:
            created_at = EPOCH + timedelta(microseconds=int(match["micros"]))
        except OverflowError:  # after the year 9999
            return None
        return cls(created_at=created_at, id=int(match["id"]))

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditCursor:
        return cls(created_at=entry.created_at, id=entry.id)


# What a table of entries shows of each (audit/rows.py), and its place in the page's order.
SHOWN_COLUMNS = (
    "id",
    "created_at",
    "actor_username",
    "action",
    "organization_id",
    "organization_name",
    "outcome",
    "response_status",
    "duration_ms",
)


@dataclass(frozen=True)
class AuditRows:
    """The rows matching a filter, one a call, in one query: reads, writes' outcomes, and the
    attempts of the writes whose outcome is not recorded."""

    entries: QuerySet[AuditEntry]
    # The organization names a name filter matched (none: it matched nothing); None without one.
    names: tuple[str, ...] | None = None

    def shown(self) -> AuditRows:
        """Only the columns a table of entries shows (audit/rows.py), as named tuples rather than
        entries: the bodies and user agents stay in the database, and fifty rows are read without
        building fifty models (about a third of the list query's CPU)."""
        return AuditRows(entries=self.entries.values_list(*SHOWN_COLUMNS, named=True), names=self.names)


@dataclass(frozen=True)
class AuditPage:
    entries: list  # the entries, or the named tuples of their shown columns (`AuditRows.shown`)
    older: AuditCursor | None
    newer: AuditCursor | None


# The entries naming an attempt (its outcome, a resolution), each appended after it, so of a
# greater id. Saying so keeps PostgreSQL from hashing the attempt ids of the whole log for each
# page, which it plans for logs of up to a few hundred thousand entries (a page then costs a scan
# of every attempt instead of one probe of `audit_attempt` an attempt; docs/performance.md has
# the figures): it hashes a subquery only
# when the subquery meets the outer row by equality alone (`convert_EXISTS_to_ANY` in
# PostgreSQL's src/backend/optimizer/plan/subselect.c). tests/test_views_audit.py holds it.
_naming_the_attempt = AuditEntry.objects.filter(attempt_id=OuterRef("id"), id__gt=OuterRef("id"))


def audit_rows(
    *,
    organization_id: str = "",
    organization_name: str = "",
    actor: str = "",
    action: str = "",
    outcome: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    request_id: str = "",
    change_request_id: int | None = None,
    correlation_id: UUID | None = None,
    actions: list[str] | None = None,
    include_reads: bool = True,
) -> AuditRows:
    """The rows matching every filter given; each filter has an index with the time.

    `organization_name` keeps the entries of the organizations whose name, as the log holds it,
    contains it (case aside), whatever the entry records: a user's or a role's entries name the
    organization by its id alone. Without `include_reads`, the changes alone (CHANGES)."""
    names = organization_names(containing=organization_name)[:MATCHED_NAMES] if organization_name else None
    matching = _matching(
        change_request_id=change_request_id,
        correlation_id=correlation_id,
        organization_id=organization_id,
        actor_username=actor,
        action=action,
        created_at__gte=since,
        created_at__lt=until,
        request_id=request_id,
        action__in=actions,
    )
    if names is not None:
        # Their ids (a create's attempt, which names no organization yet, left out).
        named = AuditEntry.objects.filter(organization_name__in=names).exclude(organization_id="")
        ids = named.values_list("organization_id", flat=True)
        matching = matching.filter(organization_id__in=list(ids.distinct())) if names else matching.none()
    if not include_reads:
        matching = matching.filter(CHANGES)
    # A write's attempt stands for the call only while no entry names it (its outcome, or a
    # resolution): in flight, or cut short. One condition on the entries the filter's time index
    # walks, so that the page's order comes from that index and an attempt costs one probe of
    # `audit_attempt`. "Not an attempt", rather than "a call or an outcome": a list of phases would
    # lead the planner to sort the whole log.
    recorded = ~Q(phase=AuditEntry.Phase.ATTEMPT)
    unresolved = Q(phase=AuditEntry.Phase.ATTEMPT) & ~Exists(_naming_the_attempt)
    names = tuple(names) if names is not None else None
    if outcome == AuditEntry.Outcome.UNKNOWN:  # no outcome recorded, or one recorded as unknown (an answer lost)
        return AuditRows(entries=matching.filter((recorded & Q(outcome=outcome)) | unresolved), names=names)
    if outcome:
        return AuditRows(entries=matching.filter(recorded, outcome=outcome), names=names)
    return AuditRows(entries=matching.filter(recorded | unresolved), names=names)


# A loose index scan: each step finds the next name by one probe of `audit_org_name`, so the walk
# costs what the names are many, not what the log is long. Neither the ORM nor either planner
# does this for a DISTINCT (https://wiki.postgresql.org/wiki/Loose_indexscan).
_NAMES_SQL = """
WITH RECURSIVE walked(name, step) AS (
    SELECT MIN(organization_name), 1 FROM {table} WHERE organization_name > ''
    UNION ALL
    SELECT (SELECT MIN(organization_name) FROM {table} WHERE organization_name > walked.name), step + 1
    FROM walked WHERE walked.name IS NOT NULL AND step < %s
)
SELECT name FROM walked WHERE name IS NOT NULL
"""


def organization_names(*, containing: str = "") -> list[str]:
    """The distinct organization names the log holds, in order, the first NAMES_WALKED of them;
    those containing `containing`, case aside, if it is given."""
    with connection.cursor() as cursor:
        cursor.execute(_NAMES_SQL.format(table=AuditEntry._meta.db_table), [NAMES_WALKED])
        names = [name for (name,) in cursor.fetchall()]
    folded = containing.casefold()
    return [name for name in names if folded in name.casefold()]


def newest_names(entries: Iterable) -> dict[str, str]:
    """The newest name the log holds of each organization that `entries` name by id alone (a
    user's or a role's entries), in one query: for each, one probe of `audit_org_time`."""
    unnamed = {entry.organization_id: entry.id for entry in entries if not entry.organization_name}
    unnamed.pop("", None)  # calls about no organization
    if not unnamed:
        return {}
    newest = (
        AuditEntry.objects.filter(organization_id=OuterRef("organization_id"))
        .exclude(organization_name="")
        .order_by(*NEWEST_FIRST)
        .values("organization_name")[:1]
    )
    found = AuditEntry.objects.filter(id__in=unnamed.values()).annotate(newest=Subquery(newest))
    return {organization_id: name for organization_id, name in found.values_list("organization_id", "newest") if name}


def _matching(**lookups: Any) -> QuerySet[AuditEntry]:
    """The entries, of every phase, matching the lookups given a value."""
    return AuditEntry.objects.filter(**{lookup: value for lookup, value in lookups.items() if value})


def latest_rows(*, size: int, changes_only: bool = False, **lookups: Any) -> list[AuditEntry]:
    """The newest `size` rows (as `audit_page` has them: one a call) of the entries matching the
    lookups, in one query, for the short tables of recent calls, which have no pages; the changes
    alone (CHANGES, as the audit page's default) with `changes_only`.

    It reads the newest 2 x `size` entries of every phase and leaves out each attempt whose
    outcome is among them; what remains is what `audit_page` finds. A write's
    outcome is appended after its attempt, by the same process, so it is the newer of the two:
    an attempt read has its outcome read too, if there is one, and an attempt without is a write
    whose outcome is unknown. Each attempt left out leaves its outcome in, so a full read keeps at
    least `size` rows. (A create's attempt names no organization yet: an organization's rows hold
    its outcome alone, as in `audit_rows`.)
    """
    matching = _matching(**lookups).filter(CHANGES) if changes_only else _matching(**lookups)
    entries = list(matching.only(*SHOWN_COLUMNS, "phase", "attempt_id").order_by(*NEWEST_FIRST)[: 2 * size])
    # An attempt's outcome, or a resolution naming it (which is newer still).
    resolved = {entry.attempt_id for entry in entries if entry.attempt_id is not None}
    rows = [entry for entry in entries if entry.phase != AuditEntry.Phase.ATTEMPT or entry.id not in resolved]
    return rows[:size]


def audit_page(
    rows: AuditRows,
    *,
    before: AuditCursor | None = None,
    after: AuditCursor | None = None,
    size: int | None = None,
) -> AuditPage:
    """One page of rows, newest first, by keyset: never an OFFSET, never a COUNT(*).

    `before` asks for the rows older than a position, `after` for those newer than it."""
    size = size or AUDIT_PAGE_SIZE
    newer = after is not None
    entries = _keyset(rows.entries, after if newer else before, newer=newer, limit=size + 1)
    more = len(entries) > size
    entries = entries[:size]
    if newer:
        entries.reverse()
        return AuditPage(
            entries=entries,
            older=AuditCursor.of(entries[-1]) if entries else None,
            newer=AuditCursor.of(entries[0]) if entries and more else None,
        )
    return AuditPage(
        entries=entries,
        older=AuditCursor.of(entries[-1]) if entries and more else None,
        newer=AuditCursor.of(entries[0]) if entries and before is not None else None,
    )


def _keyset(entries: QuerySet[AuditEntry], cursor: AuditCursor | None, *, newer: bool, limit: int) -> list:
    """Up to `limit` entries beyond the cursor (newer or older), nearest first."""
    if cursor is not None:
        entries = entries.filter(_beyond(cursor, newer=newer))
    return list(entries.order_by(*(OLDEST_FIRST if newer else NEWEST_FIRST))[:limit])


def _beyond(cursor: AuditCursor, *, newer: bool) -> Q:
    if newer:
        return Q(created_at__gt=cursor.created_at) | Q(created_at=cursor.created_at, id__gt=cursor.id)
    return Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, id__lt=cursor.id)


def audit_export_rows(**filters: Any) -> Iterator[tuple]:
    """The export of the rows matching `filters`, newest first, as EXPORT_COLUMNS tuples, read
    from the database in chunks as they are consumed."""
    rows = audit_rows(**filters).entries.order_by(*NEWEST_FIRST)
    return rows.values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)


def audit_entry(entry_id: int) -> tuple[AuditEntry, AuditEntry | None]:
    """An entry, and the other half of its write: an attempt's outcome (None while there is
    none), or an outcome's attempt."""
    entry = AuditEntry.objects.get(pk=entry_id)
    if entry.phase == AuditEntry.Phase.ATTEMPT:  # its outcome, not a resolution naming it
        return entry, AuditEntry.objects.filter(attempt_id=entry.id, phase=AuditEntry.Phase.OUTCOME).first()
    if entry.phase == AuditEntry.Phase.OUTCOME and entry.attempt_id is not None:
        return entry, AuditEntry.objects.filter(pk=entry.attempt_id).first()
    return entry, None


def attempts_of_unknown_outcome() -> QuerySet[AuditEntry]:
    """The writes whose attempt was recorded and whose outcome is not known, oldest first: no
    outcome recorded (the portal stopped in between) or an outcome `unknown` (no answer that could
    be read), and no resolution naming the attempt since (a `write.resolve` entry: what a read of
    Polytomic found, `unknown` too when no read can ever tell). Polytomic may or may not have done them."""
    known = AuditEntry.objects.filter(
        ~Q(outcome=AuditEntry.Outcome.UNKNOWN) | Q(action=AuditEntry.Action.RESOLVE), attempt_id=OuterRef("id")
    )
    return AuditEntry.objects.filter(phase=AuditEntry.Phase.ATTEMPT).exclude(Exists(known)).order_by(*OLDEST_FIRST)


def unresolved_attempts(*, older_than_seconds: float) -> QuerySet[AuditEntry]:
    """`attempts_of_unknown_outcome` sent more than `older_than_seconds` ago, for `verify_audit`."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return attempts_of_unknown_outcome().filter(created_at__lt=cutoff)
