"""What the portal's forms share: the form key every write's Idempotency-Key is made from, the
placing of Polytomic's refusals on the fields they name, the saying of a hidden field's error
above the form, and the messages more than one form uses."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.urls import reverse
from django.utils.html import format_html

from orgadmin.polytomic.errors import PolytomicError, PolytomicOutcomeUnknown, PolytomicValidationError
from orgadmin.polytomic.fields import Organization

DAMAGED = "This form is damaged: reload the page."


REASON_REQUIRED = "Say why: this change waits for another person's approval, and they read it."


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

    outcome_unknown = False

    def add_upstream_error(self, error: PolytomicError, *, name_holder: Organization | None = None) -> None:
        """Field names are the API's, so the map is the identity; `add_error` refuses names the
        form does not have, so anything else goes above the form. A name taken says, with a link,
        which organization holds it (`name_holder`, when it was found)."""
        # Sent, and no answer says what came of it: the page must not say it was not done.
        self.outcome_unknown = isinstance(error, PolytomicOutcomeUnknown)
        if isinstance(error, PolytomicValidationError):
            for name, messages in error.field_errors.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
            if name_holder is not None and error.name_taken:
                self.add_error("name" if "name" in self.fields else None, held_by(name_holder))
            for message in error.non_field_errors:
                self.add_error(None, message)
            if not error.field_errors and not error.non_field_errors:
                self.add_error(None, error.message)
        else:
            self.add_error(None, error.message)


def held_by(organization: Organization) -> str:
    """Who holds a name taken, as a link to it (its name escaped: it is Polytomic's text)."""
    url = reverse("orgadmin:organization-detail", args=[organization.id])
    return format_html('It is the name of <a href="{}">{}</a>.', url, organization.name)


class HiddenFieldErrorsMixin:
    """An error in a hidden field (the form key, the signed opened state) is said above the form:
    the field itself is never shown, so neither would its error be."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        damaged = any(self.has_error(field.name) for field in self.hidden_fields())
        if damaged and DAMAGED not in self.non_field_errors():
            self.add_error(None, DAMAGED)
        return cleaned
