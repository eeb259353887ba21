"""The form that chooses which of the partner's connections to share into an organization."""

from __future__ import annotations

from typing import Any

from django import forms

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
