"""Verification of the audit log's hash chain: a walk from the start or from a checkpoint, in
parallel stretches (`audit.worker_pool`) for a long log, each stretch's ends then linked."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max, Min
from django.dispatch import Signal

from audit.models import AuditEntry
from audit.store import HASHED_FIELDS, LATER_HASHED_FIELDS, canonical_of, chain_key_hmac, link_hash
from audit.worker_pool import worker_pool

# Sent by `verify_audit` once the chain is walked, with `write` (a line to its output): each feature
# reports there what it leaves unresolved, so that the audit app need know none of them (orgadmin
# connects the change requests sent whose outcome is unknown, in its apps.py).
verified = Signal()


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
    into `jobs` stretches of ids (by default one per core), walked by processes of their own
    (`audit.worker_pool`, one per core at most), and their ends then linked here: not inside a
    transaction, whose entries the processes, on connections of their own, could not see. The
    entries appended meanwhile are the next walk's.
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
        # No more processes than cores: more stretches than that are handed out in turn.
        with worker_pool(min(jobs, os.cpu_count() or 1), using=using) as pool:
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
    key = chain_key_hmac(chain_key)
    hashed, later = len(HASHED_FIELDS), len(HASHED_FIELDS) + len(LATER_HASHED_FIELDS)
    rows = AuditEntry.objects.using(using).filter(id__gt=after_id, id__lte=up_to_id).order_by("id")
    first_id, first_previous, previous, last_id, checked = None, "", None, None, 0
    for row in rows.values_list(*_WALKED).iterator(chunk_size=10_000):
        entry_id, previous_hash, stored_hash = row[later:]
        if first_id is None:
            first_id, first_previous = entry_id, previous_hash
        broken = None
        if link_hash(key, previous_hash, canonical_of(list(row[:hashed]), list(row[hashed:later]))) != stored_hash:
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
