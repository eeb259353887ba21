"""The four-eyes pages' form: an approver's decision."""

from __future__ import annotations

from typing import Any

from django import forms


class ChangeDecisionForm(forms.Form):
    """An approver's decision on a change request: a comment, needed to reject."""

    comment = forms.CharField(
        label="Comment", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, rejecting: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if rejecting:
            self.fields["comment"].required = True
            self.fields["comment"].error_messages["required"] = "Say why you reject it: the requester reads it."
