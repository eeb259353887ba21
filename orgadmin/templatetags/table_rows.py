"""`{% table_rows %}`: a table's rows, computed once a row in Python and printed by Jinja2.

A table's cells are plain values, ready to print: labels looked up, times formatted, links built
(`audit/rows.py`, `orgadmin/organizations/rows.py`). Django's template engine costs several
microseconds for each variable, filter, `{% url %}` and `{% include %}` it meets, and a table
multiplies them by its rows; Jinja2 prints the same rows for a fraction of that
(docs/performance.md has the figure). So the rows alone are Jinja2 templates (an app's
`jinja2/<app>/_*_rows.html`), printed by this tag inside the Django templates that hold the rest of
each table; they have no logic but the choice of a badge. Jinja2 escapes every value as Django does
(the markup scan, tests/test_markup.py, covers them).
"""

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
