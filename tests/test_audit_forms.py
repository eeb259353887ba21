"""The audit log's filters: printed by hand, they print the HTML Django's own templates print."""

from __future__ import annotations

from django.http import QueryDict
from django.test import SimpleTestCase

from audit.forms import AuditFilterForm


class FilterFormTests(SimpleTestCase):
    QUERIES = (
        "",
        "outcome=unknown&action=user.key&until=2024-01-01&since=2025-01-01&flow=zz&actor=%27a&request=r%3Cb",
        "organization=x%3C%22&action=nonsense&since=bad&change=0&actions=organization.get&actions=%3Cb%3E",
        "change=12&flow=6f1c2a8e-0000-4000-8000-000000000000&outcome=ok&actions=user.key",
        "organization_name=Glo%3Cbex&reads=on",
        "reads=false&organization_name=" + "x" * 300,
    )

    def test_the_form_prints_what_djangos_field_templates_print(self):
        for query in self.QUERIES:
            form = AuditFilterForm(QueryDict(query))
            theirs = AuditFilterForm(QueryDict(query))
            visible = "".join(f'<div class="field">{field.as_field_group()}</div>' for field in theirs.visible_fields())
            expected = visible + "".join(str(field) for field in theirs.hidden_fields())
            assert str(form) == expected, query

    def test_the_printed_form_shows_values_errors_and_the_chosen_option(self):
        printed = str(AuditFilterForm(QueryDict("actor=%3Cx%3E&outcome=failed&since=bad&actions=user.key")))
        assert 'name="actor" value="&lt;x&gt;" maxlength="150"' in printed
        assert '<option value="failed" selected>Failed</option>' in printed
        assert 'aria-describedby="id_since_error"' in printed
        assert '<input type="hidden" name="actions" value="user.key" id="id_actions_0">' in printed

    def test_the_forms_share_their_fields_and_change_none_of_them(self):
        """Every form of the filters has the same fields (audit.forms.SharedFields): binding,
        cleaning and printing forms, valid or not, leaves each as it was defined."""

        def fields() -> list:
            return [
                (name, type(field), field.required, dict(field.widget.attrs), list(getattr(field, "choices", ())))
                for name, field in AuditFilterForm.base_fields.items()
            ]

        defined = fields()
        for query in self.QUERIES:
            form = AuditFilterForm(QueryDict(query))
            str(form)
            form.filters()
            for field in [*form.visible_fields(), *form.hidden_fields()]:
                str(field.as_field_group() if not field.is_hidden else field)
            assert form.fields is AuditFilterForm.base_fields
        assert fields() == defined
        first, second = AuditFilterForm(QueryDict("since=bad")), AuditFilterForm(QueryDict("since=2025-01-01"))
        assert (list(first.errors), list(second.errors)) == (["since"], [])
