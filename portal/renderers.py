"""How forms and their widgets are rendered.

Django ships each of its form and widget templates twice, for its own engine and for Jinja2, and
renders them the same. Rendered by Jinja2 they cost a fraction of the time, which the audit
page's filters (ten fields, two long selects) show most (docs/performance.md; `python manage.py
bench`, "CPU per page"). The pages themselves stay
Django templates; only `{{ field }}`, `{{ field.as_field_group }}` and the like go through here.
"""

from __future__ import annotations

from django.forms.renderers import BaseRenderer, Jinja2, TemplatesSetting
from django.template import TemplateDoesNotExist


class FormRenderer(BaseRenderer):
    """Django's form and widget templates through Jinja2; any other form template (a library's
    own widget, a project template) through the project's Django engine, as before."""

    def __init__(self) -> None:
        self.fast = Jinja2()
        self.project = TemplatesSetting()

    def get_template(self, template_name: str):
        try:
            return self.fast.get_template(template_name)
        except TemplateDoesNotExist:
            return self.project.get_template(template_name)
