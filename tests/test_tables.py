"""Every table of the portal is the one table component of static/css/portal.css: a `table.data`
in a `.table-wrap` region that scrolls it, named and focusable, so that no table is styled apart
and none widens a narrow screen (tests/browser/test_narrow_and_accessible.py measures the pages)."""

from __future__ import annotations

import re

from tests.support import BASE_DIR

COMPONENT = re.compile(
    r'<div class="table-wrap" role="region" aria-label="[^"{}]+" tabindex="0">\s*<table class="data">'
)


def templates() -> dict[str, str]:
    folders = [BASE_DIR / "templates", *BASE_DIR.glob("*/templates"), *BASE_DIR.glob("*/jinja2")]
    return {str(path.relative_to(BASE_DIR)): path.read_text() for folder in folders for path in folder.rglob("*.html")}


class TableComponentTests:
    def test_every_table_is_the_component(self):
        tables = {name: text.count("<table") for name, text in templates().items() if "<table" in text}
        assert len(tables) >= 6  # organizations, audit, changes, users, onboarding, staff
        assert {name: len(COMPONENT.findall(templates()[name])) for name in tables} == tables

    def test_the_check_sees_a_table_apart(self):
        assert not COMPONENT.findall('<div class="card"><table class="table">')
        assert not COMPONENT.findall('<div class="table-wrap"><table class="data">')
