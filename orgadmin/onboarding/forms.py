"""The onboarding's forms: its organization step (the create form's fields and rules, and the
issuer check's confirmation) and its administrators step. The connections step's form is
`orgadmin.connections.forms.ConnectionsForm`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import validate_email

from orgadmin.organizations.forms import OrganizationForm
from orgadmin.people.forms import RolesField, role_choices
from orgadmin.polytomic.fields import FIELDS
from orgadmin.polytomic.people import Role


class OnboardingOrganizationForm(OrganizationForm):
    """The onboarding's first step: the create form's fields and rules, and the confirmation asked
    when the issuer check failed. `kept` fills it again from the flow (the secret excepted);
    `locked` keeps what was sent while its outcome is unknown, so that the retry sends the same."""

    def __init__(self, *args: Any, kept: dict[str, str] | None = None, locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kept:
            self.initial.update(kept)
        if locked:
            for field in FIELDS:
                if not field.secret:
                    self.fields[field.name].disabled = True
        self.fields["save_anyway"].help_text += " The choice is recorded with the onboarding."
        # The issuer check's record, kept with the flow.
        self.issuer_check: dict | None = None


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
