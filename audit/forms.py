"""The audit log's filters, read from the query string of its list and of its export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.urls import reverse_lazy

from audit.models import AuditEntry


class SharedFields(dict):
    """A form's fields, shared by every form of its kind: fixed where the form is defined, and
    changed by none of them. Django deep-copies a form's fields for each form, so that one may
    change its own; for the ten filters (the action filter's thirty-odd choices among them) that
    copy was most of the time it takes to build the form (docs/performance.md)."""

    def __deepcopy__(self, memo: dict) -> SharedFields:
        return self


class AuditFilterForm(forms.Form):
    """Filters of the audit log, combinable; read from the query string.

    `{{ form }}` prints the filters by one Jinja2 template from their bound values
    (`audit/jinja2/audit/_audit_filters.html`, each in a `<div class="field">`): the HTML Django
    prints field by field through a dozen includes each, for a fraction of the cost
    (docs/performance.md; tests/test_audit_forms.py holds it to Django's)."""

    template_name = "audit/_audit_filters.html"

    # Suggested from the names the log holds, in the page's <datalist id="organization-names">:
    # those the filter matched, as printed; those matching what is typed, as it is typed (htmx).
    organization_name = forms.CharField(
        label="Organization name",
        required=False,
        max_length=255,
        widget=forms.TextInput(
            attrs={
                "list": "organization-names",
                "autocomplete": "off",
                "hx-get": reverse_lazy("orgadmin:audit-organization-names"),
                "hx-trigger": "focus once, input changed delay:0.3s",
                "hx-target": "#organization-names",
                "hx-swap": "innerHTML",  # not the form's, which it would inherit
                "hx-push-url": "false",
                "hx-sync": "this:replace",
            }
        ),
    )
    organization = forms.CharField(label="Organization id", required=False, max_length=64)
    actor = forms.CharField(label="Actor (username)", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any action"), *AuditEntry.Action.choices])
    outcome = forms.ChoiceField(
        label="Outcome", required=False, choices=[("", "Any outcome"), *AuditEntry.Outcome.choices]
    )
    since = forms.DateField(label="From (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC, inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    request = forms.CharField(label="Portal request id", required=False, max_length=64)
    change = forms.IntegerField(label="Change request", required=False, min_value=1, max_value=2**63 - 1)
    flow = forms.UUIDField(label="Onboarding (correlation id)", required=False)
    # Off, the changes alone (audit.queries.CHANGES): reads are most of a log and drown the writes.
    reads = forms.BooleanField(label="Include reads", required=False)
    # Several actions at once, from a link (an onboarding step's calls): kept across the filters.
    actions = forms.MultipleChoiceField(
        required=False, widget=forms.MultipleHiddenInput, choices=AuditEntry.Action.choices
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def get_context(self) -> dict[str, Any]:
        """What `_audit_filters.html` prints: each visible filter with its value and errors, and
        the hidden inputs of the actions kept."""
        data, errors = self.data, self.errors
        fields = [(field, _value(data, field), errors.get(field.name, ())) for field in _printed_fields()]
        getlist = getattr(data, "getlist", data.get)
        return {"fields": fields, "actions": getlist("actions") or ()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end of the range is before its start.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The filters for `audit.queries.audit_rows`; none when the form is invalid."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "organization_id": data["organization"].strip(),
            "organization_name": data["organization_name"].strip(),
            # An action asked for by name is shown, a read too.
            "include_reads": data["reads"] or bool(data["action"] or data["actions"]),
            "actor": data["actor"].strip(),
            "action": data["action"],
            "outcome": data["outcome"],
            "since": datetime.combine(data["since"], time.min, tzinfo=UTC) if data["since"] else None,
            "until": _day_after(data["until"]) if data["until"] else None,
            "request_id": data["request"].strip(),
            "change_request_id": data["change"],
            "correlation_id": data["flow"],
            "actions": data["actions"],
        }

    def link(self, name: str, *, replacing: tuple[str, ...] = ()) -> str:
        """The start of a link from the page that sets filter `name` to what follows it, and keeps
        the other filters in force (read from the cleaned data, so only valid ones) but those it
        `replaces`: `?reads=on&action=user.key&organization=` for the organization's."""
        kept = []
        if self.is_valid():
            for field, value in self.cleaned_data.items():
                if field == name or field in replacing or value in (None, "", False, []):
                    continue
                values = value if isinstance(value, list) else ["on" if value is True else value]
                kept += [(field, str(each).strip()) for each in values]
        return f"?{urlencode([*kept, (name, '')])}"


AuditFilterForm.base_fields = SharedFields(AuditFilterForm.base_fields)


def _value(data: Any, field: PrintedField) -> Any:
    """A filter's bound value as its input prints it: a checkbox's whether it is ticked."""
    if field.type == "checkbox":
        return forms.CheckboxInput().value_from_datadict(data, None, field.name)
    return data.get(field.name)


@dataclass(frozen=True, slots=True)
class PrintedField:
    """What a visible filter prints whatever its value: computed once, from the form's fields."""

    name: str
    id: str
    label: str
    type: str  # the input's type; "" for a select
    attrs: tuple[tuple[str, str], ...]  # the widget's own attributes (maxlength, min, max)
    choices: tuple[tuple[str, str], ...]  # a select's options


def _printed(name: str, field: forms.Field) -> PrintedField:
    widget = field.widget
    is_select = isinstance(widget, forms.Select)
    return PrintedField(
        name=name,
        id=f"id_{name}",
        label=str(field.label),
        type="" if is_select else widget.input_type,
        attrs=tuple((key, str(value)) for key, value in widget.attrs.items()),
        choices=tuple((str(value), str(label)) for value, label in field.choices) if is_select else (),
    )


@cache
def _printed_fields() -> tuple[PrintedField, ...]:
    """Computed at the first form printed, not at import: the name filter's address is reversed
    from the URLconf, which imports this module."""
    return tuple(
        _printed(name, field) for name, field in AuditFilterForm.base_fields.items() if not field.widget.is_hidden
    )


def _day_after(day: date) -> datetime | None:
    """The start of the day after `day`, where an inclusive range ends; None after the last day
    there is (9999-12-31), which leaves the range open."""
    try:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    except OverflowError:
        return None
