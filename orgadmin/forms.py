"""Forms for organizations. Field names are the API's, so Polytomic's errors land where they belong."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core import signing
from django.core.validators import RegexValidator
from django.utils.html import format_html

from orgadmin import rules
from orgadmin.polytomic import Organization, OrganizationInput, PolytomicError, PolytomicValidationError
from orgadmin.services import ChangeSummary, SentClientId

SAML_FIELDS = ("sso_domain", "sso_org_id")
OIDC_FIELDS = ("issuer", "client_id", "client_secret")
OPENED_SALT = "orgadmin.organization-edit.opened"
CONFIRM_SALT = "orgadmin.organization-edit.confirm"

DAMAGED = "This form is damaged: reload the page."

REENTER_OIDC = (
    "Polytomic replaces the OIDC settings in full on every save and never returns the client id or "
    "secret, so they must be entered again to keep OIDC working. To turn OIDC off instead, choose "
    "“Remove OIDC”."
)


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


class HiddenFieldErrorsMixin:
    """An error in a hidden field (the form key, the signed opened state) is said above the form:
    the field itself is never shown, so neither would its error be."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        damaged = any(self.has_error(field.name) for field in self.hidden_fields())
        if damaged and DAMAGED not in self.non_field_errors():
            self.add_error(None, DAMAGED)
        return cleaned


class OrganizationForm(HiddenFieldErrorsMixin, forms.Form):
    """Create: the name and the whole SSO/OIDC configuration."""

    name = forms.CharField(max_length=255, help_text="The customer's name. Unique across your partner account.")
    sso_domain = forms.CharField(
        label="SSO domain",
        required=False,
        max_length=253,
        help_text="Email domain that sends this customer's users to their single sign-on, e.g. example.com.",
    )
    sso_org_id = forms.CharField(
        label="SSO organization id",
        required=False,
        max_length=255,
        help_text="WorkOS organization id of the customer's SAML connection, e.g. org_01H….",
    )
    issuer = forms.CharField(
        label="Issuer URL",
        required=False,
        max_length=2000,
        help_text="The identity provider's OIDC issuer, an https:// URL, e.g. https://example.okta.com.",
    )
    client_id = forms.CharField(
        label="Client id",
        required=False,
        max_length=255,
        help_text="OIDC client id issued by the identity provider.",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=1000,
        strip=True,
        # Never rendered back; hx-preserve keeps what was typed while htmx swaps the form.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "hx-preserve": "true"}),
        help_text="OIDC client secret. Write-only: Polytomic never shows it again.",
    )
    # Made when the form is first shown and kept across resubmissions of it (see services).
    form_key = FormKeyField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)

    def saml_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SAML_FIELDS]

    def oidc_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in OIDC_FIELDS]

    def clean_sso_domain(self) -> str:
        value = self.cleaned_data["sso_domain"].lower()
        if value and not rules.is_bare_domain(value):
            raise forms.ValidationError("Enter a bare domain such as example.com: no https://, @, port or path.")
        return value

    def clean_issuer(self) -> str:
        value = self.cleaned_data["issuer"]
        if value and not rules.is_https_url(value):
            raise forms.ValidationError("Enter an https:// URL, such as https://example.okta.com.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self._oidc_is_optional():
            for name in rules.missing_oidc_fields(cleaned):
                if name not in self.errors:
                    self.add_error(
                        name, "Issuer URL, client id and client secret go together: enter all three or none."
                    )
        return cleaned

    def _oidc_is_optional(self) -> bool:
        """Whether OIDC may be left out, so that only "all three or none" applies."""
        return True

    def organization_input(self) -> OrganizationInput:
        data = self.cleaned_data
        return OrganizationInput(**{name: data.get(name, "") or "" for name in ("name", *SAML_FIELDS, *OIDC_FIELDS)})

    def add_upstream_error(self, error: PolytomicError) -> None:
        """Places Polytomic's refusal on the fields it names; everything else above the form.

        Field names are the API's, so the map is the identity; `add_error` refuses names the form
        does not have, so anything else goes above the form.
        """
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


class OrganizationEditForm(OrganizationForm):
    """Edit: saving always sends the whole block, so removing SSO or OIDC must be chosen, and the
    OIDC credentials of an organization that has OIDC must be entered again."""

    remove_saml = forms.BooleanField(
        label="Remove SAML SSO", required=False, help_text="Clears the SSO domain and SSO organization id."
    )
    remove_oidc = forms.BooleanField(
        label="Remove OIDC", required=False, help_text="Turns OIDC single sign-on off for this customer."
    )
    # The organization as it was when the form was opened (signed), for the lost-update guard.
    opened = forms.CharField(widget=forms.HiddenInput)
    # Set once the operator has seen the change summary (signed over the changes they saw).
    confirm = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: Any, organization: Organization, last_client_id: SentClientId | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.last_client_id = last_client_id
        self.summary: ChangeSummary | None = None
        if not self.is_bound:
            self.initial.update(
                name=organization.name,
                sso_domain=organization.sso_domain,
                sso_org_id=organization.sso_org_id,
                issuer=organization.issuer,
                client_id=last_client_id.client_id if last_client_id and organization.has_oidc else "",
                opened=opened_token(organization),
            )
        if organization.has_oidc:
            self.fields["client_secret"].help_text = "Required to keep OIDC: " + REENTER_OIDC
        if not organization.has_oidc:
            del self.fields["remove_oidc"]
        if not (organization.sso_domain or organization.sso_org_id):
            del self.fields["remove_saml"]

    def _oidc_is_optional(self) -> bool:
        # An organization with OIDC keeps it unless removing it was chosen (see clean()).
        return not self.organization.has_oidc and not self.cleaned_data.get("remove_oidc")

    def clean_opened(self) -> dict[str, str]:
        try:
            return signing.loads(self.cleaned_data["opened"], salt=OPENED_SALT)
        except signing.BadSignature:
            raise forms.ValidationError(DAMAGED) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = self.organization
        if cleaned.get("remove_saml"):
            cleaned.update(sso_domain="", sso_org_id="")
        else:
            for name in SAML_FIELDS:
                if getattr(organization, name) and not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, "To remove SAML SSO, choose “Remove SAML SSO” instead of emptying the field.")
        if cleaned.get("remove_oidc"):
            cleaned.update(issuer="", client_id="", client_secret="")
        elif organization.has_oidc:
            for name in OIDC_FIELDS:
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, REENTER_OIDC)
        return cleaned

    def opened_state(self) -> dict[str, str] | None:
        return self.cleaned_data.get("opened")

    def reopen(self, organization: Organization) -> None:
        """After a lost-update warning: the form now stands on the organization as it is now."""
        self.data = self.data.copy()
        self.data["opened"] = opened_token(organization)
        self.data["confirm"] = ""

    def confirmed(self, summary: ChangeSummary) -> bool:
        return self.cleaned_data.get("confirm") == confirm_token(self.organization, summary)

    def ask_to_confirm(self, summary: ChangeSummary) -> None:
        self.summary = summary
        self.data = self.data.copy()
        self.data["confirm"] = confirm_token(self.organization, summary)


def opened_token(organization: Organization) -> str:
    return signing.dumps(organization_state(organization), salt=OPENED_SALT, compress=True)


def opened_organization(token: str, organization_id: object) -> Organization | None:
    """The organization as an edit form was opened with it, from the form's signed `opened` field."""
    try:
        state = signing.loads(token, salt=OPENED_SALT)
        return Organization(id=str(organization_id), **{name: str(state[name]) for name in STATE_FIELDS})
    except (signing.BadSignature, KeyError, TypeError):
        return None


STATE_FIELDS = ("name", "sso_domain", "sso_org_id", "issuer")


def organization_state(organization: Organization) -> dict[str, str]:
    """What the lost-update guard compares: the fields Polytomic returns."""
    return {name: getattr(organization, name) for name in STATE_FIELDS}


def confirm_token(organization: Organization, summary: ChangeSummary) -> str:
    return signing.Signer(salt=CONFIRM_SALT).sign(f"{organization.id}:{summary.fingerprint()}").rsplit(":", 1)[1]


class OrganizationDeleteForm(HiddenFieldErrorsMixin, forms.Form):
    confirm_name = forms.CharField(label="Type the organization's name to confirm", max_length=255)
    form_key = FormKeyField()

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.phrase = confirmation_phrase(organization)
        if not self.is_bound:
            self.initial["form_key"] = uuid.uuid4().hex
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


class AuditFilterForm(forms.Form):
    """Filters of the audit log, combinable; read from the query string."""

    organization = forms.CharField(label="Organization id", required=False, max_length=64)
    actor = forms.CharField(label="Actor (username)", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False)
    outcome = forms.ChoiceField(label="Outcome", required=False)
    since = forms.DateField(label="From (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC, inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    request = forms.CharField(label="Portal request id", required=False, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from orgadmin.models import AuditEntry

        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *AuditEntry.Action.choices]
        self.fields["outcome"].choices = [("", "Any outcome"), *AuditEntry.Outcome.choices]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end of the range is before its start.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The filters for `services.audit_entries`; none when the form is invalid."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "organization_id": data["organization"].strip(),
            "actor": data["actor"].strip(),
            "action": data["action"],
            "outcome": data["outcome"],
            "since": datetime.combine(data["since"], time.min, tzinfo=UTC) if data["since"] else None,
            "until": _day_after(data["until"]) if data["until"] else None,
            "request_id": data["request"].strip(),
        }


def _day_after(day: date) -> datetime | None:
    """The start of the day after `day`, where an inclusive range ends; None after the last day
    there is (9999-12-31), which leaves the range open."""
    try:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    except OverflowError:
        return None
