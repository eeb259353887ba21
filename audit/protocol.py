"""How every feature writes to the audit log: who asks and from where (`AuditContext`), and the one
`record(...)` that builds an entry, appends it to the chain and owns what happens when the store
refuses it: the failure is logged, told to `orgadmin.security`, and raised as `AuditUnavailable`,
which says whether anything was sent. The Polytomic client's calls, change requests, onboarding
and the issuer check all write through it; no other module builds an `AuditEntry`
(tests/test_audit_protocol.py holds the product to that).

It knows what an entry is, not what the entries are about: it imports nothing of Polytomic nor of
any feature (import-linter's contracts in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.core.cache import cache
from django.dispatch import Signal

from audit import store
from audit.models import AuditEntry
from staff import signin
from staff.forwarded_headers import client_ip

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

logger = logging.getLogger(__name__)
security_log = logging.getLogger("orgadmin.security")

# Sent once an entry is stored, with the `entry` (the monitoring app counts Polytomic's calls by it).
recorded = Signal()
# Set in the shared cache when the store refuses an entry, so that every worker of every instance
# knows before its next read (`refuse_reads_while_refused`); cleared once a probe is taken.
STORE_REFUSED_KEY = "audit:store-refused"

USER_AGENT_MAX_CHARS = 512


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where, passed explicitly from the view through the service to the
    entries the action writes."""

    actor: AbstractBaseUser | None
    request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""
    # For actions of the portal itself (commands), what to record as the actor.
    actor_label: str = ""
    # How the actor signed in (staff.signin.method): the identity provider, or which second factor.
    actor_signin: str = ""
    # The change request the action carries out, if any (orgadmin/change_requests.py).
    change_request_id: int | None = None
    # The onboarding flow the action is part of, if any (orgadmin/onboarding.py).
    correlation_id: UUID | None = None

    @classmethod
    def from_request(cls, request: HttpRequest, **kwargs: Any) -> AuditContext:
        """Who is asking and from where, for the entries this request writes; `kwargs` add to it
        (a flow's correlation id, say)."""
        user = getattr(request, "user", None)
        return cls(
            actor=user if user is not None and user.is_authenticated else None,
            request_id=getattr(request, "request_id", ""),
            client_ip=client_ip(request) or None,
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_MAX_CHARS],
            actor_signin=signin.method(request),
            **kwargs,
        )

    @property
    def actor_username(self) -> str:
        return self.actor.get_username() if self.actor is not None else self.actor_label


# The portal itself, as the actor of what no person asks for: its commands and scheduled work
# (expiries, resolutions of writes of unknown outcome, changes noticed outside it).
PORTAL = AuditContext(actor=None, actor_label="portal")


class AuditUnavailable(Exception):
    """The audit log could not record an action, so it was not done (`nothing_sent`), or its
    result is not shown: whatever the portal does is recorded, or it does not happen. `message`
    is fit to show staff. Not an error of Polytomic's: the portal's own log failed."""

    audit_unavailable = True  # as the pages' templates ask any failure they show

    def __init__(self, message: str = "", *, nothing_sent: bool) -> None:
        message = message or (
            "The audit log is unavailable, so nothing was sent to Polytomic. Try again in a moment."
            if nothing_sent
            else "The audit log is unavailable, so Polytomic's answer is not shown. Try again in a moment."
        )
        super().__init__(message)
        self.message = message
        self.nothing_sent = nothing_sent


def entry(context: AuditContext, *, action: str, **fields: Any) -> AuditEntry:
    """An entry of `action` by the context's actor, not yet appended. `fields` set or override the
    rest (the context's user agent, once scrubbed, say). `record` appends it."""
    actor = context.actor
    who = {
        "actor_id": actor.pk if actor is not None else None,
        "actor_username": context.actor_username,
        "actor_signin": context.actor_signin or None,
        "change_request_id": context.change_request_id,
        "correlation_id": context.correlation_id,
        "request_id": context.request_id,
        "client_ip": context.client_ip,
        "user_agent": context.user_agent,
        "method": "",
        "path": "",
        "outcome": AuditEntry.Outcome.OK,
        "duration_ms": 0,
    }
    return AuditEntry(action=action, **{**who, **fields})


def record(
    context: AuditContext,
    *,
    action: str,
    nothing_sent: bool,
    what: str = "",
    using: str | None = None,
    **fields: Any,
) -> AuditEntry:
    """Builds the entry of `action` (`entry`: `fields` are the rest of it) and appends it, on `using`
    (by default the connection `store.database_for_entry` chooses). Returns the entry, stored.

    If the store refuses it (for whatever reason: a full disk, a lost connection, a value it cannot
    take), the failure is logged with its traceback, told to `orgadmin.security` with `what` was
    not recorded and by whom, and raised as `AuditUnavailable(nothing_sent=...)`: the caller says
    whether anything went out before the entry (a write's attempt: nothing did; a read's or a
    step's record: it may have). Inside the caller's transaction the append is a savepoint, so the
    caller may roll back its step with it."""
    new = entry(context, action=action, **fields)
    try:
        store.append(new, using=using)  # texts are made storable and cut to their columns there
    except Exception as exc:
        what = what or action
        logger.exception("The audit entry of %s could not be written", what)
        security_log.error(
            "The audit log could not record %s by %s: %s", what, context.actor_username or "-", type(exc).__name__
        )
        _note_refused()
        raise AuditUnavailable(nothing_sent=nothing_sent) from exc
    recorded.send_robust(sender=AuditEntry, entry=new)  # what watches it cannot fail the entry
    return new


def _note_refused() -> None:
    """Notes the refusal where every worker looks before a read (`refuse_reads_while_refused`)."""
    try:
        cache.set(STORE_REFUSED_KEY, True, timeout=None)
    except Exception as exc:  # the shared cache down too: each read then finds out for itself
        logger.warning("The audit log's refusal could not be noted in the shared cache (%s)", type(exc).__name__)


def refuse_reads_while_refused(*, action: str) -> None:
    """Before a read is sent, whose entry is written only once it is over: raises
    `AuditUnavailable(nothing_sent=True)` while the store refuses entries, so that after a refusal
    no read leaves (but the one that found it) until the store takes one again.

    Costs one look in the shared cache while the store takes entries. Once a refusal is noted there
    (`record`), the store is probed before each read, with an entry of `action` appended and rolled
    back (`store.accepts_entries`), until one is taken: then the note is cleared. A cache that
    cannot be read counts as a refusal noted: the store is probed."""
    try:
        refused = cache.get(STORE_REFUSED_KEY) is not None
    except Exception as exc:  # the shared cache down (Redis gone, say): ask the store itself
        logger.warning("The shared cache could not be read (%s): probing the audit log", type(exc).__name__)
        refused = True
    if not refused:
        return
    if not store.accepts_entries(entry(AuditContext(actor=None, actor_label="system:probe"), action=action)):
        security_log.error("The audit log still refuses entries: a read of %s was not sent", action)
        raise AuditUnavailable(nothing_sent=True)
    with contextlib.suppress(Exception):
        cache.delete(STORE_REFUSED_KEY)
