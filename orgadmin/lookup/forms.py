"""The id to look up."""

from __future__ import annotations

from django import forms


class FindForm(forms.Form):
    id = forms.UUIDField(
        label="Polytomic id",
        error_messages={
            "invalid": "That is not a Polytomic id: an id looks like 3f2a9c1e-5b7d-4e0a-9c3b-1d2e3f4a5b6c.",
            "required": "Enter the id to look up.",
        },
    )
