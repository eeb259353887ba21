"""`{% table_rows %}`: a table's rows, rendered by Jinja2 (orgadmin/rows.py says why)."""

from __future__ import annotations

from django import template
from django.template import engines
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def table_rows(template_name: str, rows: list, **options: object) -> SafeString:
    """The rows through the Jinja2 template `template_name` (in an app's `jinja2/` folder), with
    `rows` and the options given; Jinja2 escapes every value, as Django's engine does."""
    html = engines["jinja2"].get_template(template_name).render({"rows": rows, **options})
    return mark_safe(html)  # noqa: S308 (Jinja2 has escaped every value in it: autoescape is on)
