"""The people pages' forms: invite, roles, remove, a new API key; and the roles field the
onboarding's administrators step uses too."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.html import format_html

from orgadmin.form_parts import FormKeyField, HiddenFieldErrorsMixin, UpstreamErrorsMixin
from orgadmin.polytomic.people import Role, User


class RolesField(forms.MultipleChoiceField):
    """The organization's roles, by name, as checkboxes; sent as their ids."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self) -> None:
        super().__init__(label="Roles", error_messages={"required": "Choose at least one role."})


def role_choices(roles: dict[str, Role]) -> list[tuple[str, str]]:
    """The system roles first (Admin, Member), then the organization's own, by name."""
    ordered = sorted(roles.values(), key=lambda role: (not role.system, role.name.casefold()))
    return [(role.id, role.name) for role in ordered]


# How many people one invite form takes: each is a call, and the page waits for them all.
INVITES_AT_MOST = 50


class UserInviteForm(HiddenFieldErrorsMixin, UpstreamErrorsMixin, forms.Form):
    """One email or many (one per line, or separated by commas), all with the same roles. The
    lines are checked one by one when they are invited (`services.users_invite`)."""

    email = forms.CharField(
        label="Emails",
        max_length=INVITES_AT_MOST * 260,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=f"One per line, or separated by commas; at most {INVITES_AT_MOST}. "
        "Polytomic sends each an invitation email to join.",
    )
    role_ids = RolesField()
    form_key = FormKeyField()

    def __init__(self, *args: Any, roles: dict[str, Role], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["role_ids"].choices = role_choices(roles)
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)

    def clean_email(self) -> list[str]:
        """The lines typed, trimmed, blank ones left out."""
        lines = [line.strip() for line in self.cleaned_data["email"].replace(",", "\n").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise forms.ValidationError("Enter at least one email.")
        if len(lines) > INVITES_AT_MOST:
            raise forms.ValidationError(
                f"Enter at most {INVITES_AT_MOST} emails at a time (there are {len(lines)}): invite the rest next."
            )
        return lines

    def keep_lines(self, lines: list[str], reasons: list[str]) -> None:
        """Shows only `lines` in the field, for another try, each reason an error on the field."""
        self.data = self.data.copy()
        self.data["email"] = "\n".join(lines)
        for reason in reasons:
            self.add_error("email", reason)


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
