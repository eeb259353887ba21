"""The audit log's one model, `AuditEntry`, append-only in Python (`AppendOnlyError`) as in the
database (the triggers of orgadmin's migrations 0009 and 0010, which created its table)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


def action_choices() -> list[tuple[str, str]]:
    """The `action` field's choices, by reference: migrations name this function, not the list, so
    adding an action to `AuditEntry.Action` needs no migration."""
    return AuditEntry.Action.choices


# The reads: calls that change nothing, and the log's own check. The "changes only" view, the audit
# page's default and an organization's recent activity, leaves them out (audit.queries.CHANGES);
# every other action is a change, a new one included. Named by value, as the index on the changes
# (below) is defined before the model; tests/test_views_audit.py holds them to `AuditEntry.Action`.
READ_ACTIONS = (
    "organization.list",
    "organization.get",
    "user.list",
    "role.list",
    "connection.list",
    "connection.shared",
    "entity.get",
    "identity.get",
    "issuer.check",
    "audit.checkpoint",
)


class AppendOnlyError(Exception):
    """The audit log is append-only: entries are never changed, and deleted only by retention."""


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries cannot be changed.")

    def bulk_update(self, objs, fields, batch_size=None):
        # Refused here, before Django opens the transaction bulk_update() would run update() in.
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit entries are deleted only by the retention command (prune_audit).")

    # Django's own QuerySet.delete() is left for the retention command (audit.retention.prune).


class AuditEntry(models.Model):
    """One call to Polytomic (who, what, when, with what outcome), written by the client through
    `orgadmin.polytomic.recording`; one step of a feature's work (a change request's, the issuer
    check's); or one of the log's own records (a prune, the keying of the chain, a checkpoint).
    Appended only through `audit.store`.

    The model moved here from orgadmin with its table, which keeps its name (`db_table`): the move
    was a change of Django's state alone (migration orgadmin 0020 and audit 0001), and the
    database's triggers on the table (orgadmin migrations 0009 and 0010) stay as they were."""

    class Action(models.TextChoices):
        LIST = "organization.list", "List organizations"
        GET = "organization.get", "View organization"
        CREATE = "organization.create", "Create organization"
        UPDATE = "organization.update", "Update organization"
        DELETE = "organization.delete", "Delete organization"
        PRUNE = "audit.prune", "Prune audit log"  # the retention command's own record
        REKEY = "audit.rekey", "Key the audit log's chain"  # migration 0006's own record
        IDENTITY = "identity.get", "Check the partner key"  # check_polytomic's call
        CHECKPOINT = "audit.checkpoint", "Verify the audit log"  # verify_audit's own record
        # A change that needs a second person (orgadmin/change_requests.py): its life, each step
        # recorded with both people named; the call that carries it out is an update or delete.
        CHANGE_REQUEST = "change.request", "Request a change"
        CHANGE_APPROVE = "change.approve", "Approve a change"
        CHANGE_REJECT = "change.reject", "Reject a change"
        CHANGE_WITHDRAW = "change.withdraw", "Withdraw a change request"
        CHANGE_EXPIRE = "change.expire", "A change request expired"
        CHANGE_VOID = "change.void", "A change request became void"
        CHANGE_EXECUTE = "change.execute", "Carry out an approved change"
        # Sent, and what came of it not recorded (the audit log refused, the worker died): until
        # someone checks at Polytomic, whose finding is a change.check entry.
        CHANGE_UNKNOWN = "change.unknown", "A change was sent, its outcome not known"
        CHANGE_CHECK = "change.check", "Check a change at Polytomic"
        # What a read of Polytomic found of a write whose outcome was unknown (orgadmin/outcomes.py):
        # names the write's attempt (`attempt_id`); ok if it was done, failed if it was not.
        RESOLVE = "write.resolve", "Find out what came of a write"
        # A customer organization's people (orgadmin/polytomic/people.py).
        USER_LIST = "user.list", "List an organization's users"
        USER_INVITE = "user.invite", "Invite a user"
        USER_UPDATE = "user.update", "Change a user's roles"
        USER_DELETE = "user.delete", "Remove a user"
        USER_KEY = "user.key", "Create a user's API key"
        ROLE_LIST = "role.list", "List an organization's roles"
        CONNECTION_LIST = "connection.list", "List the partner's connections"
        CONNECTION_SHARE = "connection.share", "Share a connection"
        CONNECTION_SHARED_LIST = "connection.shared", "List a connection's shares"
        # Not a call: what a read found changed at Polytomic that no write of the portal's explains
        # (orgadmin/organizations/external.py), with before and after.
        EXTERNAL_CHANGE = "organization.external_change", "Changed outside this portal"
        # Polytomic's partner entity lookup: what any id is, and whose (orgadmin/lookup/).
        ENTITY_GET = "entity.get", "Find what an id is"
        # Not a call to Polytomic: the portal fetching a customer's OIDC discovery document.
        ISSUER_CHECK = "issuer.check", "Check an OIDC issuer"
        # Not calls: a customer setup link's life (orgadmin/setup_links/), each step naming the link,
        # its maker and, for the customer's steps, the customer. Its submission is a change request.
        SETUP_LINK_CREATE = "setup_link.create", "Create a setup link"
        SETUP_LINK_EMAIL = "setup_link.email", "Email a setup link"
        SETUP_LINK_OPEN = "setup_link.open", "A setup link was opened"
        SETUP_LINK_SUBMIT = "setup_link.submit", "OIDC entered through a setup link"
        SETUP_LINK_REVOKE = "setup_link.revoke", "Revoke a setup link"
        SETUP_LINK_EXPIRE = "setup_link.expire", "A setup link expired"
        # Not a call to Polytomic: an Admin signing a member of staff out everywhere (staff/views.py).
        STAFF_END_SESSIONS = "staff.end_sessions", "End a staff member's sessions"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        REJECTED = "rejected", "Rejected"  # Polytomic answered 4xx
        FAILED = "failed", "Failed"  # 5xx, no answer, or an answer that could not be read
        UNKNOWN = "unknown", "Unknown"  # a write's attempt, until (or unless) its outcome is recorded

    class Phase(models.TextChoices):
        """A read is one entry. A write is two, both in the chain: its attempt, committed before the
        request leaves, and its outcome, which names the attempt."""

        CALL = "call", "Call"
        ATTEMPT = "attempt", "Attempt"
        OUTCOME = "outcome", "Outcome"

    created_at = models.DateTimeField(default=timezone.now, help_text="When the call was made (UTC).")
    # No database constraint and no cascade: deleting a user must not change or remove entries.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, help_text="The actor's username when the call was made.")
    # Choices by reference (`action_choices`), so that a new action needs no migration.
    action = models.CharField(max_length=32, choices=action_choices)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500, help_text="Path of the API call, without host or credentials.")
    organization_id = models.CharField(max_length=64, blank=True)
    organization_name = models.CharField(max_length=255, blank=True)
    request_body = models.JSONField(null=True, blank=True, help_text="Masked: the client secret only as [set].")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty when no answer came.")
    response_body = models.TextField(blank=True, help_text="Masked and cut to a few kilobytes.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error_message = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()
    attempts = models.PositiveSmallIntegerField(default=1, help_text="HTTP attempts, retries included.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True, help_text="The portal's request id (X-Request-ID).")
    api_version = models.CharField(max_length=32, blank=True, help_text="The API version that answered.")
    upstream_request_id = models.CharField(max_length=128, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.CALL)
    # On an outcome entry, the id of the attempt it is the outcome of.
    attempt_id = models.BigIntegerField(null=True, blank=True)
    # Null, not blank, for the entries written before it: a nullable column is added in place,
    # where a column with a default would make SQLite rebuild the table, and its triggers with it.
    # The change request this entry is part of (orgadmin/change_requests.py), if any.
    change_request_id = models.BigIntegerField(null=True, blank=True)
    # The onboarding flow this entry is part of (orgadmin/onboarding.py): every call of one flow
    # carries its correlation id, whoever resumed it.
    correlation_id = models.UUIDField(null=True, blank=True)
    actor_signin = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        help_text="How the actor signed in: idp:<provider>, or password+<second factor> (staff/signin.py).",
    )
    # Tamper evidence: SHA-256 over this entry's canonical content and the previous entry's hash
    # (audit/store.py). `verify_audit` walks the chain.
    previous_hash = models.CharField(max_length=64, blank=True)
    entry_hash = models.CharField(max_length=64, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        db_table = "orgadmin_auditentry"
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        default_permissions = ()  # access is orgadmin.view_audit_log (Admin role, on orgadmin.PortalAccess)
        indexes = [
            models.Index(fields=["created_at", "id"], name="audit_time"),
            # Each filter's index ends with the page order (time, then id), so a page of a filtered
            # log is read straight from the index, however long the log.
            models.Index(fields=["organization_id", "created_at", "id"], name="audit_org_time"),
            # An organization's writes whose outcome is not recorded, found by time among its
            # attempts alone (without it the planners scan every attempt of the page's time span).
            models.Index(fields=["organization_id", "phase", "created_at", "id"], name="audit_org_phase_time"),
            models.Index(fields=["actor", "created_at", "id"], name="audit_actor_time"),
            models.Index(fields=["actor_username", "created_at", "id"], name="audit_actor_name_time"),
            models.Index(fields=["outcome", "created_at", "id"], name="audit_outcome_time"),
            models.Index(fields=["action", "created_at", "id"], name="audit_action_time"),
            models.Index(fields=["request_id"], name="audit_request"),
            models.Index(fields=["attempt_id"], name="audit_attempt"),
            # The writes whose outcome is not (yet) recorded are found among the attempts by time.
            models.Index(fields=["phase", "created_at", "id"], name="audit_phase_time"),
            models.Index(fields=["change_request_id", "created_at", "id"], name="audit_change_time"),
            models.Index(fields=["correlation_id", "created_at", "id"], name="audit_correlation_time"),
            # The changes only (the audit page's default), by time: reads are most of a log, which
            # the page would otherwise walk past. Its condition is the one `audit.queries.CHANGES`
            # asks for, so that both planners see the index serves it.
            models.Index(
                fields=["created_at", "id"], condition=~models.Q(action__in=READ_ACTIONS), name="audit_changes_time"
            ),
            # The distinct names the log holds, walked one index probe a name (audit.queries.organization_names).
            models.Index(fields=["organization_name", "organization_id"], name="audit_org_name"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit entries cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are deleted only by the retention command (prune_audit).")

    SECOND_FACTORS = {"totp": "an authenticator app", "webauthn": "a security key", "recovery_codes": "a recovery code"}

    @property
    def signed_in_with(self) -> str:
        """`actor_signin` in words."""
        if not self.actor_signin:
            return ""
        kind, _, detail = self.actor_signin.partition(":")
        if kind == "idp":
            return f"Identity provider ({detail})"
        method, _, factor = self.actor_signin.partition("+")
        if method != "password":
            return self.actor_signin
        return f"Password and {self.SECOND_FACTORS.get(factor, factor)}" if factor else "Password alone"
