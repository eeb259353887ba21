from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

# Re-exported: the migrations name these fields as orgadmin.models' own.
from orgadmin.storable import STORED_MARK, StorableJSONField, StorableTextField, read_text, stored_text  # noqa: F401


class PortalAccess(models.Model):
    """Carries the portal's custom permissions; it has no table.

    Organizations live in Polytomic, not in this database, so there is no model of ours to hang
    "can edit organizations" on. The roles (groups) built from these permissions are created by
    migration 0002; `orgadmin/README.md` lists which role holds which.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_organization", "Can view organizations"),
            ("add_organization", "Can create organizations"),
            ("change_organization", "Can edit organizations"),
            ("delete_organization", "Can delete organizations"),
            ("view_audit_log", "Can view the full audit log"),
            ("approve_change_request", "Can approve or reject another's change request"),
            ("view_users", "Can view a customer organization's users"),
            ("manage_users", "Can invite, re-role and remove a customer organization's users"),
            ("create_api_key", "Can create an API key for a customer organization's user"),
        ]

    def __str__(self) -> str:
        return "Portal access"


class ChangeRequest(models.Model):
    """A change that can lock a customer out, held for a second person's approval before it is
    sent (orgadmin/change_requests/). What executes is exactly `body` (with the client secret,
    kept encrypted until the request is decided, then erased). Its texts come from Polytomic, so
    they are stored whatever they hold (`StorableTextField`, `StorableJSONField`)."""

    class Kind(models.TextChoices):
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        # OIDC entered by the customer's own admin through a setup link (orgadmin/setup_links/):
        # asked for in the link creator's name, decided by any other Editor or Admin.
        SETUP = "setup", "OIDC from the customer's setup link"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        EXECUTING = "executing", "Approved, being sent"  # until its send_deadline; then as UNKNOWN
        UNKNOWN = "unknown", "Sent — outcome not known"  # until someone checks at Polytomic
        EXECUTED = "executed", "Approved and done"
        FAILED = "failed", "Approved, Polytomic failed"  # the approver may send it again
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        VOID = "void", "Void: the organization changed meanwhile"
        WITHDRAWN = "withdrawn", "Withdrawn by its requester"

    OPEN = (Status.PENDING, Status.FAILED)  # what an approver can still act on
    # Who may decide a request of each kind (never its requester): the permission they hold.
    DECIDING_PERMISSION = {
        Kind.UPDATE: "orgadmin.approve_change_request",
        Kind.DELETE: "orgadmin.approve_change_request",
        # The customer's own OIDC: any Editor or Admin but the link's maker, who asked for it.
        Kind.SETUP: "orgadmin.change_organization",
    }

    organization_id = models.CharField(max_length=64)
    organization_name = StorableTextField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The body a PUT sends, without the secret; empty for a delete.
    body = StorableJSONField(default=dict, blank=True)
    # The organization as it was when the change was asked: approving a request on anything else voids it.
    organization_state = StorableJSONField()
    # The change summary as the requester confirmed it (edit_guard.ChangeSummary.as_record()).
    summary = StorableJSONField(default=dict, blank=True)
    reason = StorableTextField()
    # The typed client secret, encrypted (staff/encryption.py), until the request is decided.
    secret = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = StorableTextField(blank=True)
    # Times it was sent: each send has an Idempotency-Key of its own, so a retry after Polytomic
    # failed is not answered with the replay of that failure.
    sends = models.PositiveSmallIntegerField(default=0)
    result = StorableTextField(blank=True, help_text="What Polytomic answered, or why the request is void.")
    # While executing: the latest a live sender can still be at work (a read and a write, each
    # within the client's total timeout, and a margin). Past it the sender is gone (a killed
    # worker) and the request is shown, listed and resolved as UNKNOWN.
    send_deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        default_permissions = ()
        constraints = [
            # Never one person alone: whatever path decides a request, the database refuses its requester.
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="change_request_decided_by_another",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="change_request_open")]

    def __str__(self) -> str:
        return f"Change request {self.pk}: {self.get_kind_display().lower()} {self.organization_name}"

    @classmethod
    def outcome_unknown_q(cls, now: datetime | None = None) -> models.Q:
        """The requests sent whose outcome is not known: marked so, or executing past the deadline."""
        return models.Q(status=cls.Status.UNKNOWN) | models.Q(
            status=cls.Status.EXECUTING, send_deadline__lte=now or timezone.now()
        )

    @classmethod
    def waiting_q(cls, now: datetime | None = None) -> models.Q:
        """The requests an approver can still decide: open and not past their time, whether or not
        `expire_change_requests` has recorded the expiry yet."""
        return models.Q(status__in=cls.OPEN, expires_at__gt=now or timezone.now())

    @property
    def waiting(self) -> bool:
        return self.status in self.OPEN and self.expires_at > timezone.now()

    @property
    def outcome_unknown(self) -> bool:
        return self.status == self.Status.UNKNOWN or (
            self.status == self.Status.EXECUTING
            and self.send_deadline is not None
            and self.send_deadline <= timezone.now()
        )

    @property
    def deciding_permission(self) -> str:
        """The permission of those who may approve or reject this request (`DECIDING_PERMISSION`)."""
        return self.DECIDING_PERMISSION[self.kind]

    @property
    def title(self) -> str:
        """The change in words, for the queue and the pages: "Delete", "Remove OIDC", "Change
        issuer URL", from the summary the requester confirmed."""
        if self.kind == self.Kind.DELETE:
            return "Delete"
        if self.kind == self.Kind.SETUP:
            return self.get_kind_display()
        removed = [
            name for name, key in (("SAML SSO", "saml_removed"), ("OIDC", "oidc_removed")) if self.summary.get(key)
        ]
        if removed:
            return "Remove " + " and ".join(removed)
        changes = self.summary.get("changes", [])
        fields = [_lower_first(change["label"].split(" · ")[-1]) for change in changes]
        if self.summary.get("uncompared_client_id"):
            fields.append("client id")
        if not fields:
            return self.get_kind_display()
        verb = "Add" if changes and all(change["kind"] == "added" for change in changes) else "Change"
        return f"{verb} {', '.join(dict.fromkeys(fields))}"

    @property
    def status_shown(self) -> str:
        """The status in words: one executing past its deadline is not being sent any more, and
        an open one past its time is expired, before `expire_change_requests` records it so."""
        if self.outcome_unknown:
            return self.Status.UNKNOWN.label
        if self.status in self.OPEN and not self.waiting:
            return self.Status.EXPIRED.label
        return self.get_status_display()


def _lower_first(label: str) -> str:
    """ "Issuer URL" → "issuer URL"; "SSO domain" stays."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label


class Onboarding(models.Model):
    """One customer's onboarding (orgadmin/onboarding/flow.py): their organization, the partner's
    connections shared into it, its first administrators. A saved record, so that a flow stopped
    halfway says what was done and anyone allowed can pick it up; each write it makes is a task."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        DONE = "done", "Done"
        ABANDONED = "abandoned", "Abandoned"

    class Step(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        CONNECTIONS = "connections", "Shared connections"
        ADMINISTRATORS = "administrators", "First administrators"
        DONE = "done", "Done"

    # Carried by every audit entry of the flow, whoever runs its steps.
    correlation_id = models.UUIDField(unique=True, editable=False)
    # The base of each task's Idempotency-Key (letters and digits, as FormKeyField's).
    key = models.CharField(max_length=32, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    # The organization as typed, without the client secret, which is never stored: shown again
    # when the step is retried, with the secret to be typed again.
    organization_input = StorableJSONField(default=dict)
    # The last issuer check of the typed issuer (`orgadmin.issuer_check`), and whether the
    # operator chose to save despite a failed one.
    issuer_check = StorableJSONField(null=True, blank=True)
    organization_id = models.CharField(max_length=64, blank=True)
    organization_name = StorableTextField(blank=True)
    # Set once the operator chose which connections to share (possibly none).
    connections_chosen = models.BooleanField(default=False)
    # A step being run, and by whom: one operator at a time (orgadmin/onboarding/flow.py, `claimed`).
    running_since = models.DateTimeField(null=True, blank=True)
    running_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        default_permissions = ()  # access is orgadmin.add_organization (Editor and Admin)
        indexes = [models.Index(fields=["status", "started_at"], name="onboarding_status")]

    def __str__(self) -> str:
        return f"Onboarding {self.pk}: {self.organization_name or self.organization_input.get('name', '')}"


class OnboardingTask(models.Model):
    """One write an onboarding makes at Polytomic: the organization's creation, one connection's
    share, one administrator's invitation. Its state, its attempt (which makes its
    Idempotency-Key: a new one only after Polytomic answered), and the id Polytomic gave."""

    class State(models.TextChoices):
        PENDING = "pending", "Not sent yet"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"  # Polytomic answered: refused, or failed
        UNKNOWN = "unknown", "Outcome unknown"  # no answer: a retry sends the same Idempotency-Key
        SKIPPED = "skipped", "Left out"

    onboarding = models.ForeignKey(Onboarding, on_delete=models.CASCADE, related_name="tasks")
    step = models.CharField(max_length=16, choices=Onboarding.Step.choices)
    # What the task is about: "" for the organization, the connection's id, the invitee's email.
    target = StorableTextField(blank=True)
    label = StorableTextField()
    # An invitation's roles: {"role_ids": [...], "role_names": [...]}.
    detail = StorableJSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempt = models.PositiveSmallIntegerField(default=0)
    polytomic_id = StorableTextField(blank=True)
    error = StorableTextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["onboarding", "step", "target"], name="onboarding_task_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()}: {self.label} ({self.get_state_display().lower()})"

    @property
    def to_send(self) -> bool:
        """Not done and not left out: a retry of its step sends it."""
        return self.state in (self.State.PENDING, self.State.FAILED, self.State.UNKNOWN)


class ApiKeyFormToken(models.Model):
    """A single-use token of the API key form (`orgadmin.people.services.api_key_form_token`): handed out
    with the form, and taken back by one guarded UPDATE when the form is posted, so that of posts
    of one form that race each other exactly one mints and shows a key. Kept as a digest: the
    table holds nothing that could be posted."""

    digest = models.CharField(max_length=64, unique=True)
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    issued_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"API key form token of {self.staff_id}, {'used' if self.used_at else 'unused'}"


class OidcCredentials(models.Model):
    """What the portal keeps of one organization's OIDC credentials (README, "Kept OIDC
    credentials"): always the keyed fingerprint of the last client secret it sent (which tells
    "unchanged" from "replaced" and reveals nothing), and, when staff chose to keep them, the
    client id and secret, encrypted under PORTAL_OIDC_CREDENTIALS_KEYS, for later saves to send
    again. Written only after Polytomic accepted them (orgadmin/organizations/credentials.py)."""

    organization_id = models.CharField(max_length=64, unique=True)
    secret_fingerprint = models.CharField(max_length=64, blank=True)
    secret_sent_at = models.DateTimeField(null=True, blank=True)
    # A MultiFernet token of {"client_id": ..., "client_secret": ...}; blank when nothing is kept.
    kept = models.TextField(blank=True)
    kept_at = models.DateTimeField(null=True, blank=True)
    kept_by = models.CharField(max_length=150, blank=True)

    class Meta:
        default_permissions = ()
        verbose_name_plural = "OIDC credentials"

    def __str__(self) -> str:
        return f"OIDC credentials of {self.organization_id}, {'kept' if self.kept else 'not kept'}"


class SeenOrganization(models.Model):
    """An organization's readable fields (name, SSO domain, SSO organization id, issuer) as the
    portal last saw them at Polytomic, so that a change made outside the portal (Polytomic's own
    UI, Terraform, a script with the partner key) can be told from one of its own writes and
    recorded (orgadmin/organizations/external.py). `digest` (of `values`) lets two workers that
    notice the same change record it once. Never a secret: Polytomic returns none."""

    organization_id = models.CharField(max_length=64, unique=True)
    values = StorableJSONField()
    digest = models.CharField(max_length=64)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"Organization {self.organization_id} as seen {self.seen_at:%Y-%m-%d %H:%M}"


class SetupLink(models.Model):
    """A one-time link through which a customer's IT admin enters their organization's OIDC
    settings (orgadmin/setup_links/). Only the SHA-256 of its token is kept: the link is shown
    once, to the staff member who made it (and mailed, if they chose). Submitted, it becomes a
    change request of kind SETUP, and is dead."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OPENED = "opened", "Opened"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    organization_id = models.CharField(max_length=64)
    organization_name = StorableTextField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Where it was mailed, if it was, and when the mail went.
    email = models.EmailField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set once `expire_setup_links` has recorded its expiry (the state is expired from `expires_at` on).
    expiry_recorded = models.BooleanField(default=False)
    change_request = models.OneToOneField(
        ChangeRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="setup_link"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()  # access is orgadmin.change_organization (Editors and Admins)
        indexes = [models.Index(fields=["organization_id", "created_at"], name="setup_link_organization")]

    def __str__(self) -> str:
        return f"Setup link {self.pk} for {self.organization_name}"

    @classmethod
    def usable_q(cls, now: datetime | None = None) -> models.Q:
        """The links a customer can still use: not submitted, not revoked, not past their time."""
        return models.Q(submitted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now())

    @property
    def state(self) -> str:
        if self.submitted_at:
            return self.State.SUBMITTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.OPENED if self.opened_at else self.State.WAITING

    @property
    def state_shown(self) -> str:
        return self.State(self.state).label

    @property
    def usable(self) -> bool:
        return self.state in (self.State.WAITING, self.State.OPENED)
