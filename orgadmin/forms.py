"""The portal's forms. The organization forms are built from the field table
(`orgadmin.polytomic.fields.FIELDS`), with the API's names, so Polytomic's errors land where they
belong; the edit form carries what the edit guard (`orgadmin.edit_guard`) checks.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from django import forms
from django.core.validators import RegexValidator, validate_email
from django.utils.html import format_html

from orgadmin import edit_guard, field_rules
from orgadmin.polytomic.connections import Connection
from orgadmin.polytomic.errors import PolytomicError, PolytomicValidationError
from orgadmin.polytomic.fields import (
    FIELDS,
    REMEMBERED,
    SECRETS,
    Field,
    Organization,
    OrganizationInput,
    Section,
    in_section,
)
from orgadmin.polytomic.people import Role, User
from orgadmin.selectors import LastSent

DAMAGED = "This form is damaged: reload the page."
REASON_REQUIRED = "Say why: this change waits for another person's approval, and they read it."

REENTER_OIDC = (
    "Polytomic replaces the OIDC settings in full on every save and never returns the client id or "
    "secret, so they must be entered again to keep OIDC working. To turn OIDC off instead, choose "
    "“Remove OIDC”."
)
OIDC_TOGETHER = "Issuer URL, client id and client secret go together: enter all three or none."


class FormKeyField(forms.CharField):
    """The key a form gets when it is first shown and keeps across its resubmissions: 8 to 64
    ASCII letters and digits, so that every Idempotency-Key made from it is one Polytomic accepts."""

    widget = forms.HiddenInput

    def __init__(self) -> None:
        super().__init__(
            max_length=64,
            validators=[RegexValidator(r"\A[A-Za-z0-9]{8,64}\Z")],
            error_messages={"required": DAMAGED, "invalid": DAMAGED, "max_length": DAMAGED},
        )


class UpstreamErrorsMixin:
    """Places Polytomic's refusal on the fields it names; everything else above the form."""

    def add_upstream_error(self, error: PolytomicError) -> None:
        """Field names are the API's, so the map is the identity; `add_error` refuses names the
        form does not have, so anything else goes above the form."""
        if isinstance(error, PolytomicValidationError):
            for name, messages in error.field_errors.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
            for message in error.non_field_errors:
                self.add_error(None, message)
            if not error.field_errors and not error.non_field_errors:
                self.add_error(None, error.message)
        else:
            self.add_error(None, error.message)


class HiddenFieldErrorsMixin:
    """An error in a hidden field (the form key, the signed opened state) is said above the form:
    the field itself is never shown, so neither would its error be."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        damaged = any(self.has_error(field.name) for field in self.hidden_fields())
        if damaged and DAMAGED not in self.non_field_errors():
            self.add_error(None, DAMAGED)
        return cleaned


def form_field(field: Field) -> forms.CharField:
    """The form field of one of the organization's fields. A secret is never rendered back;
    hx-preserve keeps what was typed while htmx swaps the form."""
    widget = None
    if field.secret:
        widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "hx-preserve": "true"})
    return forms.CharField(
        label=field.label,
        required=field.required,
        max_length=field.max_length,
        help_text=field.help_text,
        widget=widget,
    )


# A form class holding one form field per field of the table, for the organization forms to extend.
OrganizationFields = type("OrganizationFields", (forms.Form,), {field.name: form_field(field) for field in FIELDS})


class OrganizationForm(HiddenFieldErrorsMixin, UpstreamErrorsMixin, OrganizationFields):
    """Create: the name and the whole SSO/OIDC configuration."""

    # Made when the form is first shown and kept across resubmissions of it (see services).
    form_key = FormKeyField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)

    def saml_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in in_section(Section.SAML)]

    def oidc_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in in_section(Section.OIDC)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in FIELDS:  # each field checked as its kind is (field_rules.checked)
            if cleaned.get(field.name):
                cleaned[field.name], problem = field_rules.checked(field.kind, cleaned[field.name])
                if problem:
                    self.add_error(field.name, problem)
        if self._oidc_is_optional():
            for name in field_rules.missing_oidc_fields(cleaned):
                if name not in self.errors:
                    self.add_error(name, OIDC_TOGETHER)
        return cleaned

    def _oidc_is_optional(self) -> bool:
        """Whether OIDC may be left out, so that only "all three or none" applies."""
        return True

    def organization_input(self) -> OrganizationInput:
        return OrganizationInput(**{field.name: self.cleaned_data.get(field.name) or "" for field in FIELDS})


class OrganizationEditForm(OrganizationForm):
    """Edit: saving always sends the whole block, so removing SSO or OIDC must be chosen, and the
    OIDC credentials of an organization that has OIDC must be entered again. It carries what the
    edit guard checks: the organization as it was opened, and the confirmation of the changes."""

    remove_saml = forms.BooleanField(
        label="Remove SAML SSO", required=False, help_text="Clears the SSO domain and SSO organization id."
    )
    remove_oidc = forms.BooleanField(
        label="Remove OIDC", required=False, help_text="Turns OIDC single sign-on off for this customer."
    )
    opened = forms.CharField(widget=forms.HiddenInput)
    confirm = forms.CharField(widget=forms.HiddenInput, required=False)
    # Asked when the change waits for a second person (edit_guard.ChangeSummary.needs_a_second_person).
    reason = forms.CharField(
        label="Why is this change needed?",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The approver reads it: say who asked for it and how it was checked with the customer.",
    )

    def __init__(
        self, *args: Any, organization: Organization, last_client_id: LastSent | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.last_client_id = last_client_id
        self.decision: edit_guard.Decision | None = None
        if not self.is_bound:
            known_client_id = last_client_id.value if last_client_id and organization.has_oidc else ""
            self.initial.update(organization.values(), **{REMEMBERED: known_client_id})
            self.initial["opened"] = edit_guard.opened_token(organization)
        if organization.has_oidc:
            for name in SECRETS:
                self.fields[name].help_text = "Required to keep OIDC: " + REENTER_OIDC
        else:
            del self.fields["remove_oidc"]
        if not any(getattr(organization, field.name) for field in in_section(Section.SAML)):
            del self.fields["remove_saml"]

    @property
    def summary(self) -> edit_guard.ChangeSummary | None:
        """The change summary shown for confirmation, once the guard asked for it."""
        return self.decision.summary if self.decision is not None else None

    def _oidc_is_optional(self) -> bool:
        # An organization with OIDC keeps it unless removing it was chosen (see clean()).
        return not self.organization.has_oidc and not self.cleaned_data.get("remove_oidc")

    def clean_opened(self) -> Organization:
        opened = edit_guard.opened_organization(self.cleaned_data["opened"], self.organization.id)
        if opened is None:
            raise forms.ValidationError(DAMAGED)
        return opened

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = self.organization
        if cleaned.get("remove_saml"):
            cleaned.update({field.name: "" for field in in_section(Section.SAML)})
        else:
            for field in in_section(Section.SAML):
                if getattr(organization, field.name) and not cleaned.get(field.name) and field.name not in self.errors:
                    self.add_error(
                        field.name, "To remove SAML SSO, choose “Remove SAML SSO” instead of emptying the field."
                    )
        if cleaned.get("remove_oidc"):
            cleaned.update({field.name: "" for field in in_section(Section.OIDC)})
        elif organization.has_oidc:
            for field in in_section(Section.OIDC):
                if not cleaned.get(field.name) and field.name not in self.errors:
                    self.add_error(field.name, REENTER_OIDC)
        return cleaned

    def decide(self) -> edit_guard.Decision:
        """The edit guard's decision on this valid submission."""
        return edit_guard.decide(
            opened=self.cleaned_data["opened"],
            current=self.organization,
            submitted=self.organization_input(),
            confirmation=self.cleaned_data.get("confirm", ""),
            last_client_id=self.last_client_id.value if self.last_client_id else "",
        )

    def ask_for_a_reason(self, decision: edit_guard.Decision) -> None:
        """A change that waits for a second person needs a reason: shown again to give one."""
        self.add_error("reason", REASON_REQUIRED)
        self.hold(decision)

    def hold(self, decision: edit_guard.Decision) -> None:
        """Shows the form again, unsaved, for the operator to review the guard's decision: it
        now stands on the organization as it is, and carries the confirmation of its changes."""
        self.decision = decision
        self.data = self.data.copy()
        self.data["opened"] = edit_guard.opened_token(self.organization)
        self.data["confirm"] = decision.confirmation


class OrganizationDeleteForm(forms.Form):
    """Deleting is permanent: the operator types the organization's name, and a reason when the
    delete waits for a second person."""

    confirm_name = forms.CharField(label="Type the organization's name to confirm", max_length=255)

    def __init__(self, *args: Any, organization: Organization, needs_a_second_person: bool = False, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.organization = organization
        if needs_a_second_person:
            self.fields["reason"] = forms.CharField(
                label="Why delete it?",
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 3}),
                help_text="An Admin other than you approves the delete before it is sent; they read this.",
                error_messages={"required": REASON_REQUIRED},
            )
        self.phrase = confirmation_phrase(organization)
        # Help text is rendered as HTML: the name comes from Polytomic and must be escaped.
        self.fields["confirm_name"].help_text = format_html("Enter <strong>{}</strong> exactly.", self.phrase)

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value not in (self.phrase, self.organization.name.strip()):
            raise forms.ValidationError("That is not this organization's name.")
        return value


def confirmation_phrase(organization: Organization) -> str:
    """What is typed to confirm a delete: the name as it can be typed. Control characters (NUL,
    tabs, line breaks), which no text field takes, are left out; a name of nothing else is
    confirmed with the organization's id."""
    typeable = "".join(c for c in organization.name if unicodedata.category(c) != "Cc").strip()
    return typeable or organization.id


class ChangeDecisionForm(forms.Form):
    """An approver's decision on a change request: a comment, needed to reject."""

    comment = forms.CharField(
        label="Comment", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, rejecting: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if rejecting:
            self.fields["comment"].required = True
            self.fields["comment"].error_messages["required"] = "Say why you reject it: the requester reads it."


# --- A customer organization's people ---------------------------------------------------------------


class RolesField(forms.MultipleChoiceField):
    """The organization's roles, by name, as checkboxes; sent as their ids."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self) -> None:
        super().__init__(label="Roles", error_messages={"required": "Choose at least one role."})


def role_choices(roles: dict[str, Role]) -> list[tuple[str, str]]:
    """The system roles first (Admin, Member), then the organization's own, by name."""
    ordered = sorted(roles.values(), key=lambda role: (not role.system, role.name.casefold()))
    return [(role.id, role.name) for role in ordered]


class UserInviteForm(HiddenFieldErrorsMixin, UpstreamErrorsMixin, forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, help_text="Polytomic sends this person an invitation email to join."
    )
    role_ids = RolesField()
    form_key = FormKeyField()

    def __init__(self, *args: Any, roles: dict[str, Role], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["role_ids"].choices = role_choices(roles)
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()  # as Polytomic stores it


class UserRolesForm(HiddenFieldErrorsMixin, UpstreamErrorsMixin, forms.Form):
    """Only the roles change; the email is sent as it is, as the API requires."""

    role_ids = RolesField()
    form_key = FormKeyField()

    def __init__(self, *args: Any, roles: dict[str, Role], user: User, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["role_ids"].choices = role_choices(roles)
        if not self.is_bound:
            self.initial.update(role_ids=list(user.role_ids), form_key=uuid.uuid4().hex)


class UserRemoveForm(forms.Form):
    """Removing is permanent: the operator types the user's email."""

    confirm_email = forms.CharField(label="Type the user's email to confirm", max_length=254)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["confirm_email"].help_text = format_html("Enter <strong>{}</strong> exactly.", user.email)

    def clean_confirm_email(self) -> str:
        value = self.cleaned_data["confirm_email"].strip()
        if value.casefold() != self.user.email.casefold():
            raise forms.ValidationError("That is not this user's email.")
        return value


class ApiKeyForm(HiddenFieldErrorsMixin, UpstreamErrorsMixin, forms.Form):
    """Mints a key. `once` is a token the portal hands out with the form and takes back when it is
    posted: the page that shows the key, posted again (a reload), mints and shows nothing."""

    force = forms.BooleanField(label="Replace the key this user has: it stops working at once", required=False)
    form_key = FormKeyField()
    once = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, once: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.update(form_key=uuid.uuid4().hex, once=once)


# --- Onboarding ----------------------------------------------------------------------------------


class OnboardingOrganizationForm(OrganizationForm):
    """The onboarding's first step: the create form's fields and rules, and the confirmation asked
    when the issuer check failed. `kept` fills it again from the flow (the secret excepted);
    `locked` keeps what was sent while its outcome is unknown, so that the retry sends the same."""

    save_anyway = forms.BooleanField(
        label="Save anyway: I have checked this issuer with the customer",
        required=False,
        help_text="The check warns; it does not decide. The choice is recorded with the onboarding.",
    )

    def __init__(self, *args: Any, kept: dict[str, str] | None = None, locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kept:
            self.initial.update(kept)
        if locked:
            for field in FIELDS:
                if not field.secret:
                    self.fields[field.name].disabled = True
        # The issuer check of this submission, once made (orgadmin/issuer_check.py), and its record.
        self.check_result: Any = None
        self.issuer_check: dict | None = None


class ConnectionsForm(forms.Form):
    """Which of the partner's connections to share into the new organization: any, or none."""

    connections = forms.MultipleChoiceField(
        label="The partner's connections", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, connections: list[Connection], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["connections"].choices = [
            (c.id, f"{c.name} ({c.type_name})" if c.type_name else c.name) for c in connections
        ]
        self.by_id = {connection.id: connection for connection in connections}

    def chosen(self) -> list[Connection]:
        return [self.by_id[connection_id] for connection_id in self.cleaned_data["connections"]]


class AdministratorsForm(forms.Form):
    """The customer's first administrators: their emails, one per line, and the roles they get."""

    emails = forms.CharField(
        label="Emails",
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="One per line. Polytomic sends each an invitation email to join the organization.",
    )
    role_ids = RolesField()

    def __init__(self, *args: Any, roles: dict[str, Role], most: int, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.roles = roles
        self.most = most
        self.fields["role_ids"].choices = role_choices(roles)
        admin = [role.id for role in roles.values() if role.system and role.name.casefold() == "admin"]
        self.initial.setdefault("role_ids", admin)

    def clean_emails(self) -> list[str]:
        emails: list[str] = []
        for line in self.cleaned_data["emails"].replace(",", "\n").splitlines():
            email = line.strip().lower()  # as Polytomic stores it
            if not email or email in emails:
                continue
            try:
                if len(email) > 254:
                    raise forms.ValidationError("too long")
                validate_email(email)
            except forms.ValidationError:
                raise forms.ValidationError(f"“{email[:254]}” is not an email address.") from None
            emails.append(email)
        if not emails:
            raise forms.ValidationError("Enter at least one email.")
        if len(emails) > self.most:
            raise forms.ValidationError(f"Enter at most {self.most} emails at a time.")
        return emails

    def chosen_roles(self) -> list[Role]:
        return [self.roles[role_id] for role_id in self.cleaned_data["role_ids"]]
