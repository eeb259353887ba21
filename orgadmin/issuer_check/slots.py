"""How many issuer checks run at once: capped per user and in all, in Django's cache (shared by
every worker and instance when the cache is), so that checks can never hold the threads pages
need; one over the cap is refused at once."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache

from audit.protocol import AuditContext
from orgadmin.issuer_check.refusals import Refused

logger = logging.getLogger(__name__)


def slot_seconds() -> int:
    """How long after it was taken a running check's slot expires on its own, so that a worker
    that dies holding one cannot keep it: longer than any check can run."""
    return math.ceil(settings.PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS) + 10


SLOT_KEY = "orgadmin:issuer-check:slot"


@contextlib.contextmanager
def running_check(context: AuditContext) -> Iterator[None]:
    """A slot for one more running check, the user's and the portal's, held while the block runs;
    Refused at once when either is full.

    A slot is a cache key taken with `add` (atomic in Django's database, Redis and Memcached
    caches; within one process in the local-memory one), released with `delete`, and expiring by
    itself after `slot_seconds()`, so that a worker that dies holding one does not keep it."""
    per_user, in_all = settings.PORTAL_ISSUER_CHECK_MAX_PER_USER, settings.PORTAL_ISSUER_CHECK_MAX_TOTAL
    scopes = (
        (f"user:{_who(context)}", per_user,
         f"You already have {per_user} issuer checks running: wait for them to end, then check again."),
        ("all", in_all, f"{in_all} issuer checks are already running in the portal: try again in a few seconds."),
    )  # fmt: skip
    taken: list[str] = []
    try:
        for scope, limit, busy in scopes:
            slot = _take_slot(scope, limit)
            if slot is None:
                raise Refused(busy)
            taken.append(slot)
        yield
    finally:
        if taken:
            _release(taken)


def _who(context: AuditContext) -> str:
    if context.actor is not None:
        return str(context.actor.pk)
    return "label-" + hashlib.sha256(context.actor_username.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _take_slot(scope: str, limit: int) -> str | None:
    try:
        for index in range(limit):
            key = f"{SLOT_KEY}:{scope}:{index}"
            if cache.add(key, 1, timeout=slot_seconds()):
                return key
    except Exception:  # each cache backend raises its own errors (database, Redis, ...)
        logger.exception("The issuer check could not count the checks running")
        raise Refused(
            "The portal could not count the issuer checks running (its cache did not answer), so it did not "
            "start this one."
        ) from None
    return None


def _release(keys: list[str]) -> None:
    try:
        cache.delete_many(keys)
    except Exception:  # as above; the slots expire by themselves
        logger.exception("The issuer check's slots could not be released; they expire in %s s", slot_seconds())
