"""The organization forms, built from the field table (`orgadmin.polytomic.fields.FIELDS`) with
the API's names, so that Polytomic's errors land where they belong; the edit form carries what
the edit guard (`orgadmin.organizations.edit_guard`) checks."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

from django import forms
from django.utils.html import format_html

from orgadmin.form_parts import DAMAGED, REASON_REQUIRED, FormKeyField, HiddenFieldErrorsMixin, UpstreamErrorsMixin
from orgadmin.organizations import credentials, edit_guard, field_rules
from orgadmin.organizations.queries import LastSent
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

CHANGED_MEANWHILE = "Someone changed this organization at Polytomic since you opened this page"

REENTER_OIDC = (
    "Polytomic replaces the OIDC settings in full on every save and never returns the client id or "
    "secret, so they must be entered again to keep OIDC working. To turn OIDC off instead, choose "
    "“Remove OIDC”."
)
# On a field, with the rule itself said once, at the top of the OIDC section (REENTER_OIDC).
REENTER_FIELD = "Enter it again to keep OIDC (see above), or choose “Remove OIDC”."
NEW_CLIENT_ID_NEEDS_ITS_SECRET = "A client id other than the kept one needs its own secret: enter it."  # noqa: S105


OIDC_TOGETHER = "Issuer URL, client id and client secret go together: enter all three or none."


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

    # Made when the form is first shown and kept across resubmissions of it (`orgadmin.idempotency`).
    form_key = FormKeyField()
    keep_credentials = forms.BooleanField(
        label="Keep them, encrypted, so later saves send them again",
        required=False,
        help_text="The client id and secret entered are kept encrypted, never shown, and sent only to Polytomic.",
    )
    # Asked when the issuer check made before saving failed (orgadmin.web.held_by_issuer_check).
    save_anyway = forms.BooleanField(
        label="Save anyway: I have checked this issuer with the customer",
        required=False,
        help_text="The check warns; it does not decide.",
    )
    # Credentials kept and resent by this save (the edit form's), None otherwise.
    resent: credentials.Kept | None = None
    # The issuer check of this submission, once made (`orgadmin.issuer_check.IssuerCheck`).
    check_result: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)
        if not credentials.keeping_is_on():  # a disabled field ignores what is posted
            self.fields["keep_credentials"].disabled = True
            self.fields["keep_credentials"].help_text = credentials.KEEPING_IS_OFF

    def oidc_choice(self) -> credentials.Choice:
        """What the save does with the OIDC credentials (services.organization_update)."""
        entered = bool(self.cleaned_data.get(SECRETS[0])) and self.resent is None
        return credentials.Choice(
            keep=entered and bool(self.cleaned_data.get("keep_credentials")),
            resent=self.resent,
            note=self.secret_note(),
        )

    def secret_note(self) -> str:
        return "sent" if self.cleaned_data.get(SECRETS[0]) else ""

    def saml_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in in_section(Section.SAML)]

    def oidc_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in in_section(Section.OIDC)]

    @property
    def reenter_oidc(self) -> str:
        """The rule of an organization with OIDC, said once at the top of its section."""
        return REENTER_OIDC

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
        self._secret_note: str | None = None
        self.kept = credentials.kept_credentials(organization.id) if organization.has_oidc else None
        if not self.is_bound:
            known_client_id = last_client_id.value if last_client_id and organization.has_oidc else ""
            self.initial.update(organization.values(), **{REMEMBERED: known_client_id})
            self.initial["opened"] = edit_guard.opened_token(organization)
        if self.kept is not None:
            self.fields[SECRETS[0]].help_text = "Leave empty to send the kept credentials again."
        del self.fields["save_anyway"]  # the edit form's check is the button's alone
        if not organization.has_oidc:
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
            self._resend_kept(cleaned)
            for field in in_section(Section.OIDC):
                if not cleaned.get(field.name) and field.name not in self.errors:
                    self.add_error(field.name, REENTER_FIELD)
        return cleaned

    def _resend_kept(self, cleaned: dict[str, Any]) -> None:
        """No secret entered, with credentials kept: the kept client id and secret are sent
        again, unless another client id was entered (it needs its own secret)."""
        if self.kept is None or cleaned.get(SECRETS[0]) or {REMEMBERED, *SECRETS} & set(self.errors):
            return
        try:
            kept = credentials.with_kept_credentials(self.organization.id, self.organization_input())
        except (credentials.KeptUnreadable, credentials.KeepingIsOff) as exc:
            self.add_error(SECRETS[0], str(exc))
            return
        typed = cleaned.get(REMEMBERED)
        if typed and typed != getattr(kept, REMEMBERED):
            self.add_error(SECRETS[0], NEW_CLIENT_ID_NEEDS_ITS_SECRET)
            return
        cleaned.update({REMEMBERED: getattr(kept, REMEMBERED), SECRETS[0]: getattr(kept, SECRETS[0])})
        self.resent = self.kept

    def secret_note(self) -> str:
        if self._secret_note is None:  # one read of the fingerprint, for the summary and the save
            self._secret_note = credentials.secret_note(
                self.organization.id, self.organization_input(), resent=self.resent
            )
        return self._secret_note

    def decide(self) -> edit_guard.Decision:
        """The edit guard's decision on this valid submission."""
        return edit_guard.decide(
            opened=self.cleaned_data["opened"],
            current=self.organization,
            submitted=self.organization_input(),
            confirmation=self.cleaned_data.get("confirm", ""),
            last_client_id=self.last_client_id.value if self.last_client_id else "",
            client_secret=self.secret_note(),
            resends_kept=self.resent is not None,
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
    delete waits for a second person. The form carries the organization as the page showed it
    (`opened`, signed, as the edit form does): changed at Polytomic since, nothing is deleted."""

    confirm_name = forms.CharField(label="Type the organization's name to confirm", max_length=255)
    # Not required: a post without it (a script's) is held by the typed name alone.
    opened = forms.CharField(widget=forms.HiddenInput, required=False)

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
        if not self.is_bound:
            self.initial["opened"] = edit_guard.opened_token(organization)

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"]
        if value not in (self.phrase, self.organization.name.strip()):
            raise forms.ValidationError("That is not this organization's name.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("opened"):
            return cleaned
        opened = edit_guard.opened_organization(cleaned["opened"], self.organization.id)
        if opened is None:
            self.add_error(None, DAMAGED)
        elif differences := edit_guard.changed_meanwhile(opened, self.organization):
            changed = "; ".join(f"{d.label}: “{d.opened}” → “{d.now}”" for d in differences)
            self.add_error(None, f"{CHANGED_MEANWHILE} ({changed}). Nothing was deleted: check it, then confirm again.")
            # The page now stands on the organization as it is.
            self.data = self.data.copy()
            self.data["opened"] = edit_guard.opened_token(self.organization)
        return cleaned


def confirmation_phrase(organization: Organization) -> str:
    """What is typed to confirm a delete: the name as it can be typed. Control characters (NUL,
    tabs, line breaks), which no text field takes, are left out; a name of nothing else is
    confirmed with the organization's id."""
    typeable = "".join(c for c in organization.name if unicodedata.category(c) != "Cc").strip()
    return typeable or organization.id
