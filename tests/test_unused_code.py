"""Every public function and class of the product is used by the product or its tools: none is
there only for the tests to call (a helper the tests need lives in tests/support.py)."""

from __future__ import annotations

import ast
import re

from tests.support import BASE_DIR

PRODUCT = ("audit", "orgadmin", "staff", "portal")
USERS = (*PRODUCT, "devtools", "benchmarks", "templates")


class UnusedCodeTests:
    def test_every_public_function_and_class_has_a_caller_outside_the_tests(self):
        sources = {
            path: path.read_text()
            for package in USERS
            for path in (BASE_DIR / package).rglob("*")
            if path.suffix in {".py", ".html"}
        }
        everything = "\n".join(sources.values())
        unused = [
            f"{path.relative_to(BASE_DIR)}: {node.name}"
            for path, text in sources.items()
            if path.suffix == ".py" and path.parts[len(BASE_DIR.parts)] in PRODUCT and "migrations" not in path.parts
            for node in ast.parse(text).body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            and not node.name.startswith("_")
            and not node.decorator_list  # registered by its decorator (a check, an admin)
            and path.name != "apps.py"  # found by Django from INSTALLED_APPS
            and len(re.findall(rf"\b{node.name}\b", everything)) == 1  # its definition alone
        ]
        assert unused == []
