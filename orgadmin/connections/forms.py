"""The form that chooses which of the partner's connections to share into an organization."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from orgadmin.form_parts import FormKeyField, HiddenFieldErrorsMixin
from orgadmin.polytomic.connections import Connection


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


class ShareForm(HiddenFieldErrorsMixin, ConnectionsForm):
    """Which of the partner's connections not yet shared into an organization to share now: one
    at least. Its key makes each share's Idempotency-Key, so a form sent twice shares once."""

    form_key = FormKeyField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connections"].label = "Share these"
        self.fields["connections"].required = True
        self.fields["connections"].error_messages["required"] = "Choose a connection to share."
        if not self.is_bound:
            self.initial.setdefault("form_key", uuid.uuid4().hex)
