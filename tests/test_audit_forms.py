"""The audit log's filters: their selects print the HTML Django's own select prints."""

from __future__ import annotations

from django import forms
from django.test import SimpleTestCase

from audit.forms import AuditFilterForm, Select


class SelectTests(SimpleTestCase):
    def test_the_filters_selects_print_what_djangos_select_prints(self):
        for data in ({}, {"action": "organization.update", "outcome": "unknown"}, {"action": "<b>&nonsense"}):
            ours = AuditFilterForm(data)
            django_s = AuditFilterForm(data)
            for name in ("action", "outcome"):
                assert isinstance(ours.fields[name].widget, Select)
                django_s.fields[name].widget = forms.Select(choices=django_s.fields[name].choices)
                assert str(ours[name]) == str(django_s[name])
                assert str(ours[name]).count("<option") == len(ours.fields[name].choices)

    def test_option_groups_and_option_attributes_print_as_djangos_do(self):
        choices = [("", "Any"), ("Reads", [("a", "A & a"), ("b", "B")]), ("c", "C")]
        ours = Select(choices=choices).render("pick", "b", attrs={"id": "id_pick", "class": "x"})
        theirs = forms.Select(choices=choices).render("pick", "b", attrs={"id": "id_pick", "class": "x"})
        assert ours == theirs
        assert "<optgroup" in ours
        assert " selected>" in ours
