"""The setup links' forms: the one staff make a link with, and the one the customer's admin fills in
(issuer, client id, client secret, from the field table, checked by the same rules as the staff
forms)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from orgadmin.organizations import field_rules
from orgadmin.polytomic.fields import BY_NAME, Section, in_section
from orgadmin.setup_links.links import MAX_HOURS


class NewLinkForm(forms.Form):
    hours = forms.IntegerField(
        label="Valid for (hours)",
        min_value=1,
        max_value=MAX_HOURS,
        help_text=f"At most {MAX_HOURS} hours (seven days).",
    )
    email = forms.EmailField(
        label="Email it to (optional)",
        required=False,
        help_text="The customer's IT admin. Leave blank to send the link yourself: it is shown once, below.",
    )

    def __init__(self, *args: Any, mail_on: bool, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["hours"].initial = settings.PORTAL_SETUP_LINK_HOURS
        if not mail_on:  # a disabled field ignores what is posted
            self.fields["email"].disabled = True
            self.fields["email"].help_text = "Mail is not set up in this portal (EMAIL_URL): send the link yourself."


def _field(name: str) -> forms.CharField:
    field = BY_NAME[name]
    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}) if field.secret else None
    return forms.CharField(label=field.label, max_length=field.max_length, widget=widget)


class SetupForm(forms.Form):
    """The customer's OIDC: all three fields, each as the staff forms check it."""

    issuer = _field("issuer")
    client_id = _field("client_id")
    client_secret = _field("client_secret")
    # Offered once the check of the issuer entered failed.
    submit_anyway = forms.BooleanField(label="Submit anyway: I am sure this issuer URL is right", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields[
            "issuer"
        ].help_text = "For example https://example.okta.com or https://login.microsoftonline.com/<tenant>/v2.0"
        self.fields["client_secret"].help_text = "Sent to Polytomic once approved; never shown again, here or anywhere."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in in_section(Section.OIDC):
            if cleaned.get(field.name):
                cleaned[field.name], problem = field_rules.checked(field.kind, cleaned[field.name].strip())
                if problem:
                    self.add_error(field.name, problem)
        return cleaned
